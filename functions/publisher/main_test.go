package main

import "testing"

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr bool
	}{
		{"set", map[string]string{"TABLE_NAME": "t", "EVENT_BUS_NAME": "b", "STAGE": "dev"}, Config{TableName: "t", EventBusName: "b", Stage: "dev"}, false},
		{"no bus", map[string]string{"TABLE_NAME": "t"}, Config{}, true},
		{"no table", map[string]string{"EVENT_BUS_NAME": "b"}, Config{}, true},
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
