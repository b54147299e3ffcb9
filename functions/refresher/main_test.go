package main

import (
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr bool
	}{
		{"defaults", map[string]string{"TABLE_NAME": "t"}, Config{TableName: "t", Horizon: 720 * time.Hour, Concurrency: 8, MinAge: 24 * time.Hour}, false},
		{"overrides", map[string]string{"TABLE_NAME": "t", "TOKEN_REFRESH_HORIZON": "48h", "REFRESH_CONCURRENCY": "3", "REFRESH_MIN_AGE": "1s", "GRAPH_API_URL": "http://sim", "STAGE": "dev"},
			Config{TableName: "t", GraphAPIURL: "http://sim", Horizon: 48 * time.Hour, Concurrency: 3, MinAge: time.Second, Stage: "dev"}, false},
		{"no table", map[string]string{}, Config{}, true},
		{"bad horizon", map[string]string{"TABLE_NAME": "t", "TOKEN_REFRESH_HORIZON": "30d"}, Config{}, true},
		{"bad concurrency", map[string]string{"TABLE_NAME": "t", "REFRESH_CONCURRENCY": "0"}, Config{}, true},
		{"bad min age", map[string]string{"TABLE_NAME": "t", "REFRESH_MIN_AGE": "-1h"}, Config{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := LoadConfig(func(k string) string { return tc.env[k] })
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
	}
}
