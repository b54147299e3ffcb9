package main

import (
	"strings"
	"testing"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	full := map[string]string{"TABLE_NAME": "t", "INSTAGRAM_APP_ID": "id", "SECRETS_ARN": "arn:aws:secretsmanager:us-east-1:000000000000:secret:app", "FRONTEND_URL": "https://app.example/", "EVENTS_QUEUE_URL": "q"}
	tests := []struct {
		name    string
		drop    string
		wantErr string
	}{
		{"complete", "", ""},
		{"no table", "TABLE_NAME", "TABLE_NAME is required"},
		{"no app id", "INSTAGRAM_APP_ID", "INSTAGRAM_APP_ID is required"},
		{"no secret", "SECRETS_ARN", "SECRETS_ARN is required"},
		{"no frontend", "FRONTEND_URL", "FRONTEND_URL is required"},
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
				if err != nil || cfg.FrontendURL != "https://app.example/" {
					t.Fatalf("got %+v %v", cfg, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
