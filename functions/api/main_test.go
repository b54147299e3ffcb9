package main

import (
	"strings"
	"testing"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	full := map[string]string{"API_TOKEN": "tok-secret", "TABLE_NAME": "t", "INSTAGRAM_APP_ID": "id", "INSTAGRAM_APP_SECRET": "app-secret", "EVENTS_QUEUE_URL": "q"}
	tests := []struct {
		name    string
		drop    string
		wantErr string
	}{
		{"complete", "", ""},
		{"no api token", "API_TOKEN", "API_TOKEN is required"},
		{"no table", "TABLE_NAME", "TABLE_NAME is required"},
		{"no app id", "INSTAGRAM_APP_ID", "INSTAGRAM_APP_ID is required"},
		{"no app secret", "INSTAGRAM_APP_SECRET", "INSTAGRAM_APP_SECRET is required"},
		{"no queue", "EVENTS_QUEUE_URL", "EVENTS_QUEUE_URL is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := LoadConfig(func(k string) string {
				if k == tc.drop {
					return ""
				}
				return full[k]
			})
			if tc.wantErr == "" {
				if err != nil || cfg.APIToken != "tok-secret" || cfg.AppSecret != "app-secret" {
					t.Fatalf("got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "tok-secret") || strings.Contains(err.Error(), "app-secret") {
				t.Fatalf("config error leaks a secret: %v", err)
			}
		})
	}
}
