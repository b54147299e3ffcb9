// Package secrets reads the application's secrets (Instagram app secret, webhook verify token,
// API token) from one AWS Secrets Manager secret holding a JSON object, and keeps them in a
// bounded cache so that a rotated value is used within Config.TTL, without a redeploy.
//
// The functions always read through the Secrets Manager API with the AWS SDK; the local stack
// serves that API on a loopback port (AWS_ENDPOINT_URL_SECRETS_MANAGER) from the documented
// dev defaults, so local and deployed runs take the same path.
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/iginbox/iginbox/shared/config"
)

// DefaultTTL bounds how long a value read from Secrets Manager is used before it is read again:
// a rotated secret reaches every warm instance within this time.
const DefaultTTL = 5 * time.Minute

// retryAfterError is how soon a failed re-read is tried again while the cached values are
// still served.
const retryAfterError = 30 * time.Second

// Keys of the secret's JSON object (the names of the matching local environment variables).
const (
	KeyAppSecret   = "INSTAGRAM_APP_SECRET"
	KeyVerifyToken = "INSTAGRAM_VERIFY_TOKEN"
	KeyAPIToken    = "API_TOKEN"
)

// Values are the secret's fields. They never reach logs: LogValue and String redact them.
type Values struct {
	AppSecret   string `json:"INSTAGRAM_APP_SECRET"`
	VerifyToken string `json:"INSTAGRAM_VERIFY_TOKEN"`
	APIToken    string `json:"API_TOKEN"`
}

// Require returns an error naming every key among keys whose value is empty.
func (v Values) Require(keys ...string) error {
	var missing []error
	for _, k := range keys {
		var s string
		switch k {
		case KeyAppSecret:
			s = v.AppSecret
		case KeyVerifyToken:
			s = v.VerifyToken
		case KeyAPIToken:
			s = v.APIToken
		default:
			return fmt.Errorf("unknown secret key %s", k)
		}
		if s == "" {
			missing = append(missing, fmt.Errorf("secret key %s is empty or missing", k))
		}
	}
	return errors.Join(missing...)
}

// String keeps the values out of fmt output.
func (Values) String() string { return "secrets.Values{[redacted]}" }

// LogValue keeps the values out of slog output.
func (Values) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Config locates the secret.
type Config struct {
	ID  string        // SECRETS_ARN: the secret's ARN (or name)
	TTL time.Duration // SECRETS_CACHE_TTL: how long a read value is used (default and maximum DefaultTTL)
}

// LoadConfig reads the secret's location from e (the function's environment).
func LoadConfig(e *config.Env) Config {
	c := Config{ID: e.Required("SECRETS_ARN"), TTL: e.Duration("SECRETS_CACHE_TTL", DefaultTTL)}
	if c.TTL > DefaultTTL {
		e.Add(fmt.Errorf("SECRETS_CACHE_TTL must be at most %s (rotation is picked up within it)", DefaultTTL))
	}
	return c
}

// API is what the cache needs of Secrets Manager (*secretsmanager.Client).
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Cache holds the secret's values read at most Config.TTL ago. It is safe for concurrent use.
type Cache struct {
	api API
	cfg Config
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	vals    Values
	loaded  bool
	readAt  time.Time // when vals were read
	retryAt time.Time // after a failed re-read: when to try again
}

// Option configures a Cache.
type Option func(*Cache)

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(c *Cache) { c.now = now } }

// NewCache returns a cache reading cfg.ID through api. Nothing is read before the first Get.
func NewCache(api API, cfg Config, log *slog.Logger, opts ...Option) *Cache {
	if cfg.TTL <= 0 || cfg.TTL > DefaultTTL {
		cfg.TTL = DefaultTTL
	}
	c := &Cache{api: api, cfg: cfg, log: log, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Get returns the values, reading the secret when they are older than the TTL. When a re-read
// fails, the values read before are returned (and the failure logged), and the read is tried
// again after a short pause; only a cache that never read the secret returns the error.
func (c *Cache) Get(ctx context.Context) (Values, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.loaded && (now.Sub(c.readAt) < c.cfg.TTL || now.Before(c.retryAt)) {
		return c.vals, nil
	}
	v, err := c.read(ctx)
	if err != nil {
		if !c.loaded {
			return Values{}, err
		}
		c.retryAt = now.Add(retryAfterError)
		c.log.Warn("secret re-read failed; using the values read before", "secret", c.cfg.ID,
			"read_at", c.readAt.UTC().Format(time.RFC3339), "error", err.Error())
		return c.vals, nil
	}
	c.vals, c.loaded, c.readAt, c.retryAt = v, true, now, time.Time{}
	return v, nil
}

func (c *Cache) read(ctx context.Context) (Values, error) {
	out, err := c.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(c.cfg.ID)})
	if err != nil {
		// The SDK's error names the secret and the API's reason, never a value.
		return Values{}, fmt.Errorf("read secret %s: %w", c.cfg.ID, err)
	}
	if out.SecretString == nil {
		return Values{}, fmt.Errorf("read secret %s: no SecretString (a JSON object is expected)", c.cfg.ID)
	}
	var v Values
	if err := json.Unmarshal([]byte(*out.SecretString), &v); err != nil {
		// json's error could quote part of the value: say only what is wrong.
		return Values{}, fmt.Errorf("read secret %s: SecretString is not a JSON object of strings", c.cfg.ID)
	}
	return v, nil
}

// Built keeps a value (a function's handler) built from the current secrets and builds it
// again when they change, so that a rotated secret takes effect without a redeploy.
type Built[T any] struct {
	cache *Cache
	build func(Values) (T, error)

	mu   sync.Mutex
	vals Values
	cur  T
}

// Build reads the secrets and builds the first value (at cold start); an error here fails the
// function's initialisation.
func Build[T any](ctx context.Context, cache *Cache, build func(Values) (T, error)) (*Built[T], error) {
	v, err := cache.Get(ctx)
	if err != nil {
		return nil, err
	}
	cur, err := build(v)
	if err != nil {
		return nil, err
	}
	return &Built[T]{cache: cache, build: build, vals: v, cur: cur}, nil
}

// Get returns the value built from the current secrets. If building from changed secrets
// fails (say a key was removed), the failure is logged and the previous value is kept.
func (b *Built[T]) Get(ctx context.Context) T {
	v, _ := b.cache.Get(ctx) // never fails once Build succeeded
	b.mu.Lock()
	defer b.mu.Unlock()
	if v == b.vals {
		return b.cur
	}
	cur, err := b.build(v)
	if err != nil {
		b.cache.log.Error("secrets changed but are unusable; keeping the previous ones", "secret", b.cache.cfg.ID, "error", err.Error())
		b.vals = v // log once per change
		return b.cur
	}
	b.cache.log.Info("secrets changed; handler rebuilt", "secret", b.cache.cfg.ID)
	b.vals, b.cur = v, cur
	return cur
}
