package runtimeapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iginbox/iginbox/local/localrun"
	"github.com/iginbox/iginbox/local/testenv"

	"github.com/iginbox/iginbox/local/runtimeapi"
)

var bootstrap string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "runtimeapi")
	if err != nil {
		panic(err)
	}
	bootstrap = filepath.Join(dir, "bootstrap")
	if err := localrun.GoBuild(context.Background(), ".", "./testdata/echo", bootstrap, nil); err != nil {
		os.RemoveAll(dir)
		panic("build testdata/echo: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer is the shared goroutine-safe log sink.
type syncBuffer = testenv.LogBuffer

func start(t *testing.T, cfg runtimeapi.Config) *runtimeapi.Instance {
	t.Helper()
	cfg.Bootstrap = bootstrap
	in, err := runtimeapi.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Stop)
	return in
}

func TestInvoke(t *testing.T) {
	t.Parallel()
	out := &syncBuffer{}
	in := start(t, runtimeapi.Config{Name: "echo", Env: []string{"GREETING=hello"}, Output: out, Timeout: 2 * time.Second})
	if cs := in.ColdStart(); cs <= 0 || cs > 10*time.Second {
		t.Errorf("cold start = %v", cs)
	}
	tests := []struct {
		name     string
		payload  string
		wantSaid string
		wantEnv  string
		wantErr  string // FunctionError.Type
		alive    bool
	}{
		{name: "echo", payload: `{"say":"hi"}`, wantSaid: "hi", alive: true},
		{name: "env from config", payload: `{"say":"x","env":"GREETING"}`, wantSaid: "x", wantEnv: "hello", alive: true},
		{name: "lambda env", payload: `{"env":"AWS_LAMBDA_FUNCTION_NAME"}`, wantEnv: "echo", alive: true},
		{name: "function error", payload: `{"fail":true}`, wantErr: "errorString", alive: true},
		{name: "still serving after an error", payload: `{"say":"again"}`, wantSaid: "again", alive: true},
		// aws-lambda-go reports a panic and exits, like on Lambda.
		{name: "panic ends the process", payload: `{"panic":true}`, wantErr: "string", alive: false},
	}
	// Sequential: the cases share one instance and its order matters.
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, err := in.Invoke(context.Background(), []byte(tc.payload))
			if tc.wantErr != "" {
				var fe *runtimeapi.FunctionError
				if !errors.As(err, &fe) || fe.Type != tc.wantErr {
					t.Fatalf("err = %v (%T), want FunctionError %s", err, err, tc.wantErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				var r struct {
					Said, Env, RequestID string `json:"-"`
				}
				var raw map[string]any
				if err := json.Unmarshal(body, &raw); err != nil {
					t.Fatalf("body %s: %v", body, err)
				}
				r.Said, _ = raw["said"].(string)
				r.Env, _ = raw["env"].(string)
				r.RequestID, _ = raw["request_id"].(string)
				if r.Said != tc.wantSaid || r.Env != tc.wantEnv || r.RequestID == "" || raw["has_deadline"] != true {
					t.Errorf("body = %s", body)
				}
			}
			if got := waitAlive(in, tc.alive); got != tc.alive {
				t.Errorf("alive = %v, want %v", got, tc.alive)
			}
		})
	}
	if !strings.Contains(out.String(), "echo said hi") {
		t.Errorf("function output not forwarded: %q", out.String())
	}
	if _, err := in.Invoke(context.Background(), []byte(`{}`)); err == nil {
		t.Error("invoke on a dead instance succeeded")
	}
}

func waitAlive(in *runtimeapi.Instance, want bool) bool {
	deadline := time.Now().Add(2 * time.Second)
	for in.Alive() != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return in.Alive()
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	in := start(t, runtimeapi.Config{Name: "echo", Timeout: 300 * time.Millisecond})
	began := time.Now()
	_, err := in.Invoke(context.Background(), []byte(`{"sleep_ms":5000}`))
	var fe *runtimeapi.FunctionError
	if !errors.As(err, &fe) || fe.Type != "Sandbox.Timedout" {
		t.Fatalf("err = %v, want Sandbox.Timedout", err)
	}
	if el := time.Since(began); el > 2*time.Second {
		t.Errorf("timeout took %v", el)
	}
	if waitAlive(in, false) {
		t.Error("instance alive after a timeout")
	}
}

func TestPoolReplacesDeadInstance(t *testing.T) {
	t.Parallel()
	pool := runtimeapi.NewPool(runtimeapi.Config{Name: "echo", Bootstrap: bootstrap}, 1)
	t.Cleanup(pool.Close)
	if _, err := pool.Invoke(context.Background(), []byte(`{"panic":true}`)); err == nil {
		t.Fatal("panic invocation succeeded")
	}
	body, err := pool.Invoke(context.Background(), []byte(`{"say":"back"}`))
	if err != nil || !strings.Contains(string(body), `"said":"back"`) {
		t.Fatalf("after a crash: %s, %v", body, err)
	}
}

func TestProcessExit(t *testing.T) {
	t.Parallel()
	in := start(t, runtimeapi.Config{Name: "echo"})
	_, err := in.Invoke(context.Background(), []byte(`{"exit":true}`))
	var fe *runtimeapi.FunctionError
	if !errors.As(err, &fe) || fe.Type != "Runtime.ExitError" {
		t.Fatalf("err = %v, want Runtime.ExitError", err)
	}
}

func TestInitFailure(t *testing.T) {
	t.Parallel()
	_, err := runtimeapi.Start(context.Background(), runtimeapi.Config{Name: "echo", Bootstrap: bootstrap, Env: []string{"ECHO_INIT_FAIL=1"}})
	var fe *runtimeapi.FunctionError
	if !errors.As(err, &fe) || fe.Type != "Runtime.ExitError" {
		t.Fatalf("err = %v, want Runtime.ExitError", err)
	}
}

func TestPoolConcurrencyAndStop(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		colds int
	)
	pool := runtimeapi.NewPool(runtimeapi.Config{Name: "echo", Bootstrap: bootstrap}, 3)
	pool.OnColdStart = func(time.Duration) { mu.Lock(); colds++; mu.Unlock() }
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	startAt := time.Now()
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := pool.Invoke(context.Background(), []byte(`{"sleep_ms":300}`))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if colds != 3 {
		t.Errorf("instances started = %d, want 3 (max)", colds)
	}
	if el := time.Since(startAt); el < 600*time.Millisecond {
		t.Errorf("6 × 300 ms on 3 instances took %v, want ≥ 600 ms (at most 3 at once)", el)
	}
	pids := pool.PIDs()
	if len(pids) != 3 {
		t.Fatalf("pids = %v", pids)
	}
	pool.Close()
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("pid %d alive after Close: %v", pid, err)
		}
	}
}
