package main

import (
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{"defaults", map[string]string{"TABLE_NAME": "t", "EVENTS_QUEUE_URL": "q"}, Config{TableName: "t", GraphTimeout: 10 * time.Second, ProfileMaxAge: 168 * time.Hour, MaxReceiveCount: 5,
			EventsQueueURL: "q", HumanAgent: true, SendEchoGrace: 15 * time.Minute, SendRetryBase: 10 * time.Second,
			UnknownEventRetentionDays: 30, PurgeSettle: 35 * time.Second}, ""},
		{"overrides", map[string]string{"TABLE_NAME": "t", "EVENTS_QUEUE_URL": "q", "GRAPH_API_URL": "http://127.0.0.1:9", "GRAPH_TIMEOUT": "4s", "PROFILE_MAX_AGE": "1h", "MAX_RECEIVE_COUNT": "3",
			"HUMAN_AGENT_ENABLED": "false", "SEND_ECHO_GRACE": "5s", "SEND_RETRY_BASE": "1s", "STAGE": "prod",
			"MESSAGE_RETENTION_DAYS": "365", "UNKNOWN_EVENT_RETENTION_DAYS": "0", "PURGE_SETTLE": "1s"},
			Config{TableName: "t", GraphAPIURL: "http://127.0.0.1:9", GraphTimeout: 4 * time.Second, ProfileMaxAge: time.Hour, MaxReceiveCount: 3,
				EventsQueueURL: "q", SendEchoGrace: 5 * time.Second, SendRetryBase: time.Second, Stage: "prod",
				MessageRetentionDays: 365, PurgeSettle: time.Second}, ""},
		{"bad retention", map[string]string{"TABLE_NAME": "t", "EVENTS_QUEUE_URL": "q", "MESSAGE_RETENTION_DAYS": "-1"}, Config{}, "MESSAGE_RETENTION_DAYS"},
		{"missing table", map[string]string{"EVENTS_QUEUE_URL": "q"}, Config{}, "TABLE_NAME is required"},
		{"missing queue", map[string]string{"TABLE_NAME": "t"}, Config{}, "EVENTS_QUEUE_URL is required"},
		{"bad age", map[string]string{"TABLE_NAME": "t", "EVENTS_QUEUE_URL": "q", "PROFILE_MAX_AGE": "7 days"}, Config{}, "PROFILE_MAX_AGE"},
		{"bad count", map[string]string{"TABLE_NAME": "t", "EVENTS_QUEUE_URL": "q", "MAX_RECEIVE_COUNT": "0"}, Config{}, "MAX_RECEIVE_COUNT"},
		{"bad human agent", map[string]string{"TABLE_NAME": "t", "EVENTS_QUEUE_URL": "q", "HUMAN_AGENT_ENABLED": "sometimes"}, Config{}, "HUMAN_AGENT_ENABLED"},
		{"bad grace", map[string]string{"TABLE_NAME": "t", "EVENTS_QUEUE_URL": "q", "SEND_ECHO_GRACE": "-1s"}, Config{}, "SEND_ECHO_GRACE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := LoadConfig(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %+v %v, want %+v", got, err, tc.want)
			}
		})
	}
}
