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
		{"defaults", map[string]string{"TABLE_NAME": "t"}, Config{TableName: "t", After: time.Hour}, false},
		{"overrides", map[string]string{"TABLE_NAME": "t", "SWEEP_AFTER": "20m", "STAGE": "dev"}, Config{TableName: "t", After: 20 * time.Minute, Stage: "dev"}, false},
		{"no table", map[string]string{}, Config{}, true},
		{"bad duration", map[string]string{"TABLE_NAME": "t", "SWEEP_AFTER": "15"}, Config{}, true},
		{"negative", map[string]string{"TABLE_NAME": "t", "SWEEP_AFTER": "-1m"}, Config{}, true},
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
