package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/iginbox/iginbox/shared/config"
)

func lookup(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestRequiredAndString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr string
	}{
		{name: "set", env: map[string]string{"TABLE_NAME": "t"}, want: "t"},
		{name: "kept as is", env: map[string]string{"TABLE_NAME": " t "}, want: " t "},
		{name: "unset", env: map[string]string{}, wantErr: "test config: TABLE_NAME is required"},
		{name: "empty", env: map[string]string{"TABLE_NAME": ""}, wantErr: "test config: TABLE_NAME is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := config.NewEnv(lookup(tc.env))
			if got := e.String("TABLE_NAME"); got != tc.want {
				t.Errorf("String = %q, want %q", got, tc.want)
			}
			if err := e.Err("test config"); err != nil {
				t.Fatalf("String recorded a problem: %v", err)
			}
			if got := e.Required("TABLE_NAME"); got != tc.want {
				t.Errorf("Required = %q, want %q", got, tc.want)
			}
			checkErr(t, e.Err("test config"), tc.wantErr)
		})
	}
}

func TestBool(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		value   string
		def     bool
		want    bool
		wantErr string
	}{
		{name: "default true", value: "", def: true, want: true},
		{name: "default false", value: "", def: false, want: false},
		{name: "false overrides", value: "false", def: true, want: false},
		{name: "one", value: "1", def: false, want: true},
		{name: "TRUE", value: "TRUE", def: false, want: true},
		{name: "not a boolean", value: "sometimes", def: true, want: true, wantErr: `HUMAN_AGENT_ENABLED "sometimes" is not a boolean`},
		{name: "padded", value: " true", def: false, want: false, wantErr: `HUMAN_AGENT_ENABLED " true" is not a boolean`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := config.NewEnv(lookup(map[string]string{"HUMAN_AGENT_ENABLED": tc.value}))
			if got := e.Bool("HUMAN_AGENT_ENABLED", tc.def); got != tc.want {
				t.Errorf("Bool = %v, want %v", got, tc.want)
			}
			checkErr(t, e.Err("test config"), tc.wantErr)
		})
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		value   string
		def     time.Duration
		want    time.Duration
		wantErr string
	}{
		{name: "default", value: "", def: 168 * time.Hour, want: 168 * time.Hour},
		{name: "override", value: "90m", def: time.Hour, want: 90 * time.Minute},
		{name: "days are not a unit", value: "7 days", def: 168 * time.Hour, want: 168 * time.Hour,
			wantErr: `PROFILE_MAX_AGE "7 days" is not a positive duration (e.g. 168h)`},
		{name: "negative", value: "-1s", def: time.Minute, want: time.Minute,
			wantErr: `PROFILE_MAX_AGE "-1s" is not a positive duration (e.g. 1m)`},
		{name: "zero", value: "0s", def: 10 * time.Second, want: 10 * time.Second,
			wantErr: `PROFILE_MAX_AGE "0s" is not a positive duration (e.g. 10s)`},
		{name: "no unit", value: "30", def: 90 * time.Minute, want: 90 * time.Minute,
			wantErr: `PROFILE_MAX_AGE "30" is not a positive duration (e.g. 1h30m)`},
		{name: "no default to suggest", value: "x", def: 0, want: 0,
			wantErr: `PROFILE_MAX_AGE "x" is not a positive duration`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := config.NewEnv(lookup(map[string]string{"PROFILE_MAX_AGE": tc.value}))
			if got := e.Duration("PROFILE_MAX_AGE", tc.def); got != tc.want {
				t.Errorf("Duration = %v, want %v", got, tc.want)
			}
			err := e.Err("test config")
			checkErr(t, err, tc.wantErr)
			if err != nil && tc.def == 0 && strings.Contains(err.Error(), "e.g.") {
				t.Errorf("error suggests a default that does not exist: %v", err)
			}
		})
	}
}

func TestInt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		value    string
		def      int
		min, max int
		want     int
		wantErr  string
	}{
		{name: "default", value: "", def: 5, min: 1, max: 1000, want: 5},
		{name: "override", value: "3", def: 5, min: 1, max: 1000, want: 3},
		{name: "lower bound", value: "1", def: 5, min: 1, max: 1000, want: 1},
		{name: "upper bound", value: "1000", def: 5, min: 1, max: 1000, want: 1000},
		{name: "below", value: "0", def: 5, min: 1, max: 1000, want: 5, wantErr: `MAX_RECEIVE_COUNT "0" must be 1..1000`},
		{name: "above", value: "1001", def: 5, min: 1, max: 1000, want: 5, wantErr: `MAX_RECEIVE_COUNT "1001" must be 1..1000`},
		{name: "not a number", value: "five", def: 5, min: 1, max: 1000, want: 5, wantErr: `MAX_RECEIVE_COUNT "five" must be 1..1000`},
		{name: "padded", value: " 3", def: 5, min: 1, max: 1000, want: 5, wantErr: `MAX_RECEIVE_COUNT " 3" must be 1..1000`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := config.NewEnv(lookup(map[string]string{"MAX_RECEIVE_COUNT": tc.value}))
			if got := e.Int("MAX_RECEIVE_COUNT", tc.def, tc.min, tc.max); got != tc.want {
				t.Errorf("Int = %d, want %d", got, tc.want)
			}
			checkErr(t, e.Err("test config"), tc.wantErr)
		})
	}
}

// TestSecretsNeverEchoed reads invalid values from variables named like secrets: the problem
// names the variable but never quotes its value.
func TestSecretsNeverEchoed(t *testing.T) {
	t.Parallel()
	const value = "hunter2-value"
	tests := []struct {
		name    string
		varName string
		read    func(e *config.Env, name string)
		wantErr string
	}{
		{name: "app secret as bool", varName: "INSTAGRAM_APP_SECRET", read: func(e *config.Env, n string) { e.Bool(n, false) },
			wantErr: "INSTAGRAM_APP_SECRET is not a boolean"},
		{name: "verify token as duration", varName: "INSTAGRAM_VERIFY_TOKEN", read: func(e *config.Env, n string) { e.Duration(n, time.Second) },
			wantErr: "INSTAGRAM_VERIFY_TOKEN is not a positive duration (e.g. 1s)"},
		{name: "api token as int", varName: "API_TOKEN", read: func(e *config.Env, n string) { e.Int(n, 1, 1, 2) },
			wantErr: "API_TOKEN must be 1..2"},
		{name: "password as int", varName: "DB_PASSWORD", read: func(e *config.Env, n string) { e.Int(n, 1, 1, 2) },
			wantErr: "DB_PASSWORD must be 1..2"},
		{name: "lower-case secret", varName: "client_secret", read: func(e *config.Env, n string) { e.Bool(n, false) },
			wantErr: "client_secret is not a boolean"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := config.NewEnv(lookup(map[string]string{tc.varName: value}))
			tc.read(e, tc.varName)
			err := e.Err("test config")
			checkErr(t, err, tc.wantErr)
			if err != nil && strings.Contains(err.Error(), value) {
				t.Errorf("error echoes the secret: %v", err)
			}
		})
	}
}

func TestSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want bool
	}{
		{"INSTAGRAM_APP_SECRET", true},
		{"INSTAGRAM_VERIFY_TOKEN", true},
		{"API_TOKEN", true},
		{"DB_PASSWORD", true},
		{"TOKEN_REFRESH_HORIZON", false},
		{"TABLE_NAME", false},
		{"MAX_RECEIVE_COUNT", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := config.Secret(tc.name); got != tc.want {
				t.Errorf("Secret(%q) = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}

// TestErrJoinsEveryProblem checks that one bad variable does not hide the next, that every
// problem is reachable with errors.Is, and that a clean read reports nil.
func TestErrJoinsEveryProblem(t *testing.T) {
	t.Parallel()
	sentinel := errors.New("TABLE_NAME is required while WEBHOOK_ARCHIVE_DAYS > 0")
	tests := []struct {
		name      string
		env       map[string]string
		add       error
		wantLines []string
	}{
		{name: "clean", env: map[string]string{"TABLE_NAME": "t", "TOKEN_REFRESH_HORIZON": "48h", "REFRESH_CONCURRENCY": "3"}},
		{name: "all bad", env: map[string]string{"TOKEN_REFRESH_HORIZON": "30d", "REFRESH_CONCURRENCY": "0"}, add: sentinel,
			wantLines: []string{
				"refresher config: TABLE_NAME is required",
				`TOKEN_REFRESH_HORIZON "30d" is not a positive duration (e.g. 720h)`,
				`REFRESH_CONCURRENCY "0" must be 1..64`,
				sentinel.Error(),
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := config.NewEnv(lookup(tc.env))
			e.Required("TABLE_NAME")
			e.Duration("TOKEN_REFRESH_HORIZON", 720*time.Hour)
			e.Int("REFRESH_CONCURRENCY", 8, 1, 64)
			e.Add(nil)
			e.Add(tc.add)
			err := e.Err("refresher config")
			if tc.wantLines == nil {
				if err != nil {
					t.Fatalf("Err = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Err = nil, want problems")
			}
			if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(tc.wantLines, "\n") {
				t.Errorf("Err =\n%s\nwant\n%s", err, strings.Join(tc.wantLines, "\n"))
			}
			if !errors.Is(err, sentinel) {
				t.Errorf("errors.Is(Err, added problem) = false")
			}
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want it to contain %q", err, want)
	}
}
