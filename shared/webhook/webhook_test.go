package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/secrets"
)

const (
	testSecret = "test-app-secret-0123456789"
	testToken  = "test-verify-token-abcdef"
)

// fakePublisher records published envelopes; err makes Publish fail.
type fakePublisher struct {
	mu    sync.Mutex
	calls [][]envelope.Envelope
	err   error
}

func (f *fakePublisher) Publish(_ context.Context, envs []envelope.Envelope) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, envs)
	return f.err
}

func (f *fakePublisher) all() []envelope.Envelope {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []envelope.Envelope
	for _, c := range f.calls {
		out = append(out, c...)
	}
	return out
}

func newTestHandler(pub Publisher, logOut io.Writer) *Handler {
	if logOut == nil {
		logOut = io.Discard
	}
	return NewHandler(testSecret, testToken, pub, slog.New(slog.NewJSONHandler(logOut, nil)))
}

func getRequest(params map[string]string) events.APIGatewayV2HTTPRequest {
	req := events.APIGatewayV2HTTPRequest{QueryStringParameters: params}
	req.RequestContext.HTTP.Method = "GET"
	return req
}

func postRequest(body string, headers map[string]string) events.APIGatewayV2HTTPRequest {
	req := events.APIGatewayV2HTTPRequest{Body: body, Headers: headers}
	req.RequestContext.HTTP.Method = "POST"
	return req
}

func signed(body []byte) map[string]string {
	return map[string]string{"x-hub-signature-256": Sign([]byte(testSecret), body)}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		params map[string]string
		status int
	}{
		{"valid", map[string]string{"hub.mode": "subscribe", "hub.verify_token": testToken, "hub.challenge": "1158201444"}, 200},
		{"wrong token", map[string]string{"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}, 403},
		{"token prefix", map[string]string{"hub.mode": "subscribe", "hub.verify_token": testToken[:5], "hub.challenge": "1"}, 403},
		{"wrong mode", map[string]string{"hub.mode": "unsubscribe", "hub.verify_token": testToken, "hub.challenge": "1"}, 403},
		{"missing mode", map[string]string{"hub.verify_token": testToken, "hub.challenge": "1"}, 400},
		{"missing token", map[string]string{"hub.mode": "subscribe", "hub.challenge": "1"}, 400},
		{"missing challenge", map[string]string{"hub.mode": "subscribe", "hub.verify_token": testToken}, 400},
		{"empty challenge", map[string]string{"hub.mode": "subscribe", "hub.verify_token": testToken, "hub.challenge": ""}, 400},
		{"no parameters", nil, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := newTestHandler(&fakePublisher{}, nil).Handle(context.Background(), getRequest(tc.params))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			if !strings.HasPrefix(resp.Headers["Content-Type"], "text/plain") {
				t.Errorf("content type %q", resp.Headers["Content-Type"])
			}
			if tc.status == 200 && resp.Body != tc.params["hub.challenge"] {
				t.Errorf("body = %q, want the challenge", resp.Body)
			}
			if tc.status != 200 && strings.Contains(resp.Body, testToken) {
				t.Error("response leaks the verify token")
			}
		})
	}
}

func TestReceive(t *testing.T) {
	t.Parallel()
	body := readMeta(t, "message-text.json")
	batch := readMeta(t, "batch-mixed.json")
	sig := Sign([]byte(testSecret), body)
	tampered := bytes.Replace(body, []byte("estoque"), []byte("estoqUe"), 1)
	// The same event with its text re-serialised without \u escapes: a different byte string.
	var generic any
	if err := json.Unmarshal(body, &generic); err != nil {
		t.Fatal(err)
	}
	reserialised, _ := json.Marshal(generic)
	big := `{"object":"instagram","entry":[],"pad":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	notJSON := []byte(`{"object":"instagram","entry":[`)
	page := []byte(`{"object":"page","entry":[{"id":"1","time":1,"messaging":[]}]}`)
	noEvents := []byte(`{"object":"instagram","entry":[{"id":"17841400000000001","time":1763802000}]}`)

	tests := []struct {
		name    string
		req     events.APIGatewayV2HTTPRequest
		status  int
		events  int
		pubErr  error
		outcome string
	}{
		{"valid", postRequest(string(body), signed(body)), 200, 1, nil, "queued"},
		{"valid batch", postRequest(string(batch), signed(batch)), 200, 7, nil, "queued"},
		{"header name in any case", postRequest(string(body), map[string]string{"X-Hub-Signature-256": sig}), 200, 1, nil, "queued"},
		{"base64 body", func() events.APIGatewayV2HTTPRequest {
			r := postRequest(base64.StdEncoding.EncodeToString(body), signed(body))
			r.IsBase64Encoded = true
			return r
		}(), 200, 1, nil, "queued"},
		{"base64 body signed over its encoding", func() events.APIGatewayV2HTTPRequest {
			enc := base64.StdEncoding.EncodeToString(body)
			r := postRequest(enc, signed([]byte(enc)))
			r.IsBase64Encoded = true
			return r
		}(), 401, 0, nil, "bad_signature"},
		{"bad base64", func() events.APIGatewayV2HTTPRequest {
			r := postRequest("%%%not base64", signed(body))
			r.IsBase64Encoded = true
			return r
		}(), 400, 0, nil, "bad_base64"},
		{"tampered body", postRequest(string(tampered), signed(body)), 401, 0, nil, "bad_signature"},
		{"re-serialised unicode body", postRequest(string(reserialised), signed(body)), 401, 0, nil, "bad_signature"},
		{"missing signature", postRequest(string(body), nil), 401, 0, nil, "missing_signature"},
		{"wrong prefix", postRequest(string(body), map[string]string{"x-hub-signature-256": "sha1=" + strings.TrimPrefix(sig, "sha256=")}), 401, 0, nil, "bad_signature"},
		{"no prefix", postRequest(string(body), map[string]string{"x-hub-signature-256": strings.TrimPrefix(sig, "sha256=")}), 401, 0, nil, "bad_signature"},
		{"upper-case hex", postRequest(string(body), map[string]string{"x-hub-signature-256": "sha256=" + strings.ToUpper(strings.TrimPrefix(sig, "sha256="))}), 200, 1, nil, "queued"},
		{"other secret", postRequest(string(body), map[string]string{"x-hub-signature-256": Sign([]byte("other"), body)}), 401, 0, nil, "bad_signature"},
		{"oversize", postRequest(big, signed([]byte(big))), 413, 0, nil, "too_large"},
		{"oversize base64", func() events.APIGatewayV2HTTPRequest {
			r := postRequest(base64.StdEncoding.EncodeToString([]byte(big)), signed([]byte(big)))
			r.IsBase64Encoded = true
			return r
		}(), 413, 0, nil, "too_large"},
		{"oversize unsigned", postRequest(big, nil), 413, 0, nil, "too_large"},
		{"malformed JSON", postRequest(string(notJSON), signed(notJSON)), 400, 0, nil, "malformed"},
		{"not instagram", postRequest(string(page), signed(page)), 200, 0, nil, "ignored_object"},
		{"no events", postRequest(string(noEvents), signed(noEvents)), 200, 0, nil, "empty"},
		{"publish fails", postRequest(string(body), signed(body)), 500, 1, errors.New("sqs down"), "publish_failed"},
		{"put", func() events.APIGatewayV2HTTPRequest {
			r := postRequest(string(body), signed(body))
			r.RequestContext.HTTP.Method = "PUT"
			return r
		}(), 405, 0, nil, "method_not_allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pub := &fakePublisher{err: tc.pubErr}
			var logs bytes.Buffer
			resp, err := newTestHandler(pub, &logs).Handle(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d (log %s)", resp.StatusCode, tc.status, logs.String())
			}
			if got := len(pub.all()); got != tc.events {
				t.Errorf("published %d events, want %d", got, tc.events)
			}
			if tc.status == 500 && strings.Contains(resp.Body, "sqs") {
				t.Errorf("500 body leaks the internal error: %q", resp.Body)
			}
			var line map[string]any
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
				t.Fatalf("want exactly one JSON log line, got %q: %v", logs.String(), err)
			}
			if line["outcome"] != tc.outcome {
				t.Errorf("outcome = %v, want %s", line["outcome"], tc.outcome)
			}
			for _, k := range []string{"method", "status", "entries", "events", "duration"} {
				if _, ok := line[k]; !ok {
					t.Errorf("log line has no %q: %s", k, logs.String())
				}
			}
		})
	}
}

// TestSecretsNeverLogged drives every path and checks that neither the secrets, the signature
// nor message text reach the log output or the responses.
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	body := readMeta(t, "message-text.json")
	sig := Sign([]byte(testSecret), body)
	var logs bytes.Buffer
	var responses strings.Builder
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reqs := []events.APIGatewayV2HTTPRequest{
		getRequest(map[string]string{"hub.mode": "subscribe", "hub.verify_token": testToken, "hub.challenge": "42"}),
		getRequest(map[string]string{"hub.mode": "subscribe", "hub.verify_token": testToken + "x", "hub.challenge": "42"}),
		postRequest(string(body), map[string]string{"x-hub-signature-256": sig}),
		postRequest(string(body), map[string]string{"x-hub-signature-256": sig[:len(sig)-1] + "0"}),
		postRequest(string(body[:len(body)-2]), map[string]string{"x-hub-signature-256": Sign([]byte(testSecret), body[:len(body)-2])}),
	}
	for _, pubErr := range []error{nil, errors.New("boom")} {
		h := NewHandler(testSecret, testToken, &fakePublisher{err: pubErr}, log)
		for _, r := range reqs {
			resp, err := h.Handle(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			if r.RequestContext.HTTP.Method == "POST" {
				responses.WriteString(resp.Body)
			}
		}
	}
	if got := strings.Count(logs.String(), "\n"); got != 2*len(reqs) {
		t.Errorf("%d log lines for %d requests", got, 2*len(reqs))
	}
	for _, secret := range []string{testSecret, testToken, strings.TrimPrefix(sig, "sha256="), "estoque", "Ol\\u00e1", "Olá"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log output contains %q", secret)
		}
		if strings.Contains(responses.String(), secret) {
			t.Errorf("responses contain %q", secret)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	full := map[string]string{"SECRETS_ARN": "arn:aws:secretsmanager:us-east-1:000000000000:secret:iginbox/test/app", "EVENTS_QUEUE_URL": "http://127.0.0.1:4566/000000000000/events.fifo", "TABLE_NAME": "iginbox-test"}
	tests := []struct {
		name    string
		drop    []string
		wantErr []string
	}{
		{"complete", nil, nil},
		{"missing secret", []string{"SECRETS_ARN"}, []string{"SECRETS_ARN"}},
		{"missing all", []string{"SECRETS_ARN", "EVENTS_QUEUE_URL"}, []string{"SECRETS_ARN", "EVENTS_QUEUE_URL"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range full {
				env[k] = v
			}
			for _, k := range tc.drop {
				delete(env, k)
			}
			cfg, err := LoadConfig(func(k string) string { return env[k] })
			if tc.wantErr == nil {
				if err != nil || cfg.Secrets.ID != full["SECRETS_ARN"] || cfg.Secrets.TTL != secrets.DefaultTTL || cfg.QueueURL != full["EVENTS_QUEUE_URL"] {
					t.Fatalf("LoadConfig = %+v, %v", cfg, err)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, name := range tc.wantErr {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error %q does not name %s", err, name)
				}
			}
		})
	}
}
