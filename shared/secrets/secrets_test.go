package secrets_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/iginbox/iginbox/local/emulator"
	"github.com/iginbox/iginbox/local/secretsapi"
	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/config"
	"github.com/iginbox/iginbox/shared/secrets"
)

const (
	appSecret  = "app-s3cret-value"
	rotated    = "app-s3cret-rotated"
	verifyTok  = "verify-t0ken-value"
	apiTok     = "api-t0ken-value-0123"
	secretName = "iginbox/test/app"
)

func secretJSON(app string) string {
	return fmt.Sprintf(`{"INSTAGRAM_APP_SECRET":%q,"INSTAGRAM_VERIFY_TOKEN":%q,"API_TOKEN":%q}`, app, verifyTok, apiTok)
}

// world is the Secrets Manager stand-in the local stack runs, read through the real SDK.
type world struct {
	srv    *secretsapi.Server
	client *secretsmanager.Client
	logs   *testenv.LogBuffer
	log    *slog.Logger

	mu  sync.Mutex
	now time.Time
}

func newWorld(t *testing.T) *world {
	t.Helper()
	srv := secretsapi.New()
	srv.Add(secretName, secretJSON(appSecret))
	if err := srv.Start(0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	client := secretsmanager.New(secretsmanager.Options{
		Region:       emulator.Region,
		Credentials:  emulator.Credentials(),
		BaseEndpoint: aws.String(srv.URL()),
	})
	logs := &testenv.LogBuffer{}
	return &world{srv: srv, client: client, logs: logs, log: slog.New(slog.NewJSONHandler(logs, nil)),
		now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (w *world) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *world) advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(d)
}

func (w *world) cache(id string) *secrets.Cache {
	return secrets.NewCache(w.client, secrets.Config{ID: id}, w.log, secrets.WithClock(w.clock))
}

func get(t *testing.T, c *secrets.Cache) secrets.Values {
	t.Helper()
	v, err := c.Get(context.Background())
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return v
}

func TestCacheReadsTheJSONSecret(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, id := range []string{secretName, secretsapi.ARN(secretName)} {
		v := get(t, w.cache(id))
		if v.AppSecret != appSecret || v.VerifyToken != verifyTok || v.APIToken != apiTok {
			t.Errorf("%s: values do not match the secret", id)
		}
	}
}

func TestCachePicksUpRotationWithinTTL(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c := w.cache(secretName)
	if get(t, c).AppSecret != appSecret {
		t.Fatal("first read")
	}
	if err := w.srv.Put(secretName, secretJSON(rotated)); err != nil {
		t.Fatal(err)
	}
	w.advance(secrets.DefaultTTL - time.Second)
	if get(t, c).AppSecret != appSecret {
		t.Error("re-read before the TTL ran out: the cache does not bound the API calls")
	}
	w.advance(time.Second)
	if get(t, c).AppSecret != rotated {
		t.Errorf("rotation not picked up %s after the first read", secrets.DefaultTTL)
	}
}

func TestCacheKeepsValuesWhenAReReadFails(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c := w.cache(secretName)
	get(t, c)
	_ = w.srv.Close() // Secrets Manager unreachable
	w.advance(secrets.DefaultTTL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := c.Get(ctx)
	if err != nil || v.AppSecret != appSecret {
		t.Fatalf("Get after a failed re-read = %v; want the values read before", err)
	}
	if !strings.Contains(w.logs.String(), "secret re-read failed") {
		t.Errorf("the failed re-read is not logged: %s", w.logs.String())
	}
	if strings.Contains(w.logs.String(), appSecret) {
		t.Error("log leaks the secret")
	}
}

func TestCacheErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.srv.Add("not-json", "plain "+appSecret)
	w.srv.Add("not-strings", `{"INSTAGRAM_APP_SECRET":["`+appSecret+`"]}`)
	for _, id := range []string{"missing", "not-json", "not-strings"} {
		_, err := w.cache(id).Get(context.Background())
		if err == nil {
			t.Errorf("%s: no error", id)
			continue
		}
		if strings.Contains(err.Error(), appSecret) {
			t.Errorf("%s: error leaks the value: %v", id, err)
		}
		if !strings.Contains(err.Error(), id) {
			t.Errorf("%s: error does not name the secret: %v", id, err)
		}
	}
}

func TestBuiltRebuildsOnRotation(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c := w.cache(secretName)
	builds := 0
	b, err := secrets.Build(context.Background(), c, func(v secrets.Values) (string, error) {
		if err := v.Require(secrets.KeyAppSecret, secrets.KeyVerifyToken); err != nil {
			return "", err
		}
		builds++
		return "handler with " + v.AppSecret, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w.advance(secrets.DefaultTTL)
	if got := b.Get(ctx); got != "handler with "+appSecret || builds != 1 {
		t.Fatalf("unchanged secret: got %q after %d builds, want no rebuild", got, builds)
	}
	_ = w.srv.Put(secretName, secretJSON(rotated))
	w.advance(secrets.DefaultTTL)
	if got := b.Get(ctx); got != "handler with "+rotated || builds != 2 {
		t.Fatalf("rotated secret: got %q after %d builds", got, builds)
	}
	// A broken rotation (key removed) keeps the working handler.
	_ = w.srv.Put(secretName, `{"INSTAGRAM_APP_SECRET":"x-x-x-x-x"}`)
	w.advance(secrets.DefaultTTL)
	if got := b.Get(ctx); got != "handler with "+rotated {
		t.Fatalf("unusable secret replaced the handler: %q", got)
	}
	if !strings.Contains(w.logs.String(), "INSTAGRAM_VERIFY_TOKEN is empty") {
		t.Errorf("unusable secret not logged: %s", w.logs.String())
	}
}

func TestBuildFailsWithoutSecret(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	_, err := secrets.Build(context.Background(), w.cache("missing"), func(v secrets.Values) (int, error) { return 1, nil })
	if err == nil {
		t.Fatal("cold start without the secret must fail")
	}
	_, err = secrets.Build(context.Background(), w.cache(secretName), func(v secrets.Values) (int, error) {
		return 0, errors.New("bad")
	})
	if err == nil {
		t.Fatal("build error not returned")
	}
}

func TestValuesNeverPrint(t *testing.T) {
	t.Parallel()
	v := secrets.Values{AppSecret: appSecret, VerifyToken: verifyTok, APIToken: apiTok}
	var logs testenv.LogBuffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "values", v)
	out := fmt.Sprintf("%v %+v %s", v, v, v) + logs.String()
	for _, s := range []string{appSecret, verifyTok, apiTok} {
		if strings.Contains(out, s) {
			t.Errorf("printed values contain %q: %s", s, out)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		wantTTL time.Duration
		wantErr string
	}{
		{"default ttl", map[string]string{"SECRETS_ARN": "a"}, secrets.DefaultTTL, ""},
		{"short ttl", map[string]string{"SECRETS_ARN": "a", "SECRETS_CACHE_TTL": "5s"}, 5 * time.Second, ""},
		{"ttl over the bound", map[string]string{"SECRETS_ARN": "a", "SECRETS_CACHE_TTL": "1h"}, 0, "at most 5m"},
		{"no arn", map[string]string{}, 0, "SECRETS_ARN is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := config.NewEnv(func(k string) string { return tc.env[k] })
			c := secrets.LoadConfig(e)
			err := e.Err("test")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.TTL != tc.wantTTL || c.ID != "a" {
				t.Fatalf("LoadConfig = %+v, %v", c, err)
			}
		})
	}
}
