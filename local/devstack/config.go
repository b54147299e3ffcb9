// Package devstack is the local stack behind `make dev`: the whole iginbox system on this machine, in the foreground
// until Ctrl-C.
//
// It starts DynamoDB Local and fauxqs on 127.0.0.1, creates the table and queues from
// template.yaml (Stage "local"), builds every functions/<name> bootstrap for the host, runs
// each behind a local Lambda Runtime API with its template environment resolved, and serves:
//
//   - an HTTP front on 127.0.0.1:$PORT mapping every HttpApi route of the template to an API
//     Gateway v2 (payload 2.0) event; unknown routes answer 404 JSON;
//   - an SQS event-source poller per SQS event (batch size, partial batch failures,
//     visibility timeout; fauxqs moves poison messages to the DLQ);
//   - a trigger per Schedule event (its rate; cron every 6 h), also on demand with
//     POST http://127.0.0.1:$PORT/_local/schedule/<FunctionLogicalId>;
//   - the Meta simulator (cmd/simulator) when GRAPH_API_URL is unset, and, when the template
//     has POST /api/channels/connect, one channel connected through the real connect flow.
//
// Environment: PORT (3000), INSTAGRAM_APP_SECRET (dev-app-secret), INSTAGRAM_VERIFY_TOKEN
// (dev-verify-token), API_TOKEN (dev-api-token), DEV_INSTAGRAM_ACCOUNT_ID
// (17841400000000001), GRAPH_API_URL (simulator), FRONTEND_URL
// (http://127.0.0.1:$PORT/, the console), DDB_PORT / SQS_PORT (free ports),
// DEV_CONCURRENCY (instances per function, 2); any template parameter P is read from the
// environment variable UPPER_SNAKE(P).
package devstack

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
)

// Config is devstack's configuration, read from the environment.
type Config struct {
	Port         int
	DDBPort      int
	SQSPort      int
	GraphAPIURL  string
	DevAccountID string
	Concurrency  int
	Getenv       func(string) string
}

// ConfigFromEnv parses the environment.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{Port: 3000, Concurrency: 2, DevAccountID: "17841400000000001", Getenv: getenv}
	ints := []struct {
		env string
		dst *int
	}{{"PORT", &c.Port}, {"DDB_PORT", &c.DDBPort}, {"SQS_PORT", &c.SQSPort}, {"DEV_CONCURRENCY", &c.Concurrency}}
	for _, i := range ints {
		v := getenv(i.env)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 65535 {
			return Config{}, fmt.Errorf("%s=%q is not a valid number", i.env, v)
		}
		*i.dst = n
	}
	if c.Port == 0 {
		return Config{}, errors.New("PORT must not be 0")
	}
	if c.Concurrency < 1 {
		c.Concurrency = 1
	}
	c.GraphAPIURL = getenv("GRAPH_API_URL")
	if v := getenv("DEV_INSTAGRAM_ACCOUNT_ID"); v != "" {
		c.DevAccountID = v
	}
	return c, nil
}

// LockedWriter serialises writes of the many prefixed streams sharing stdout.
type LockedWriter struct {
	mu sync.Mutex
	W  io.Writer
}

func (l *LockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.W.Write(p)
}

func newLogger(out io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
