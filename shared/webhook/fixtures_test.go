package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/envelope"
)

// updateFixtures rewrites events/apigw/*.json and the fuzz seed corpora from events/meta:
//
//	go test ./shared/webhook -run TestFixtures -update-fixtures
var updateFixtures = flag.Bool("update-fixtures", false, "rewrite events/apigw fixtures and fuzz seeds from events/meta")

// DevAppSecret is the documented app secret the events/apigw fixtures are signed with.
const DevAppSecret = "dev-app-secret"

// devVerifyToken is the verify token of the events/apigw verification fixture.
const devVerifyToken = "dev-verify-token"

var eventsDir = filepath.Join("..", "..", "events")

// metaFixtures lists the kinds every events/meta body must split into, in order. Every file of
// events/meta must be listed (and vice versa).
var metaFixtures = map[string][]envelope.Kind{
	"message-text.json":                     {envelope.KindMessage},
	"message-attachment-image.json":         {envelope.KindMessage},
	"message-attachment-video.json":         {envelope.KindMessage},
	"message-attachment-audio.json":         {envelope.KindMessage},
	"message-attachment-file.json":          {envelope.KindMessage},
	"message-attachment-share.json":         {envelope.KindMessage},
	"message-attachment-story_mention.json": {envelope.KindMessage},
	"message-attachment-ig_reel.json":       {envelope.KindMessage},
	"message-attachment-reel.json":          {envelope.KindMessage},
	"message-attachment-ig_post.json":       {envelope.KindMessage},
	"message-attachment-ig_story.json":      {envelope.KindMessage},
	"message-attachment-unknown.json":       {envelope.KindMessage},
	"message-reply-to-mid.json":             {envelope.KindMessage},
	"message-reply-to-story.json":           {envelope.KindMessage},
	"message-quick-reply.json":              {envelope.KindMessage},
	"message-referral.json":                 {envelope.KindMessage},
	"message-unsupported.json":              {envelope.KindMessage},
	"message-deleted.json":                  {envelope.KindMessage},
	"echo.json":                             {envelope.KindEcho},
	"reaction-react.json":                   {envelope.KindReaction},
	"reaction-unreact.json":                 {envelope.KindReaction},
	"read.json":                             {envelope.KindRead},
	"postback.json":                         {envelope.KindPostback},
	"referral.json":                         {envelope.KindReferral},
	"standby.json":                          {envelope.KindMessage},
	"changes-test.json":                     {envelope.KindChange},
	"batch-mixed.json": {envelope.KindMessage, envelope.KindMessage, envelope.KindEcho, envelope.KindMessage,
		envelope.KindMessage, envelope.KindRead, envelope.KindMessage},
}

func readMeta(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(eventsDir, "meta", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMetaFixturesParse(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(eventsDir, "meta", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no events/meta fixtures: %v", err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	for name := range metaFixtures {
		if !slices.Contains(names, name) {
			t.Errorf("fixture %s is listed but missing from events/meta", name)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, ok := metaFixtures[name]
			if !ok {
				t.Fatalf("events/meta/%s has no expectation in metaFixtures", name)
			}
			body := readMeta(t, name)
			b, err := Parse(body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var kinds []envelope.Kind
			for _, env := range b.Events {
				kinds = append(kinds, env.Kind)
				if err := env.Validate(); err != nil {
					t.Errorf("envelope %s: %v", env.Key, err)
				}
				if !bytes.Contains(body, env.Raw) {
					t.Errorf("envelope %s: raw is not a slice of the body", env.Key)
				}
				if env.Timestamp < 1e12 {
					t.Errorf("envelope %s: timestamp %d is not in milliseconds", env.Key, env.Timestamp)
				}
			}
			if !slices.Equal(kinds, want) {
				t.Errorf("kinds = %v, want %v", kinds, want)
			}
		})
	}
}

func TestAPIGatewayFixtures(t *testing.T) {
	if *updateFixtures {
		writeAPIGatewayFixtures(t)
		writeFuzzSeeds(t)
	}
	files, err := filepath.Glob(filepath.Join(eventsDir, "apigw", "webhook-*.json"))
	if err != nil || len(files) < 3 {
		t.Fatalf("want at least 3 events/apigw/webhook-*.json fixtures, got %d (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var req events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &req); err != nil {
				t.Fatalf("decode: %v", err)
			}
			pub := &fakePublisher{}
			h := NewHandler(DevAppSecret, devVerifyToken, pub, slog.New(slog.NewJSONHandler(io.Discard, nil)))
			if req.RequestContext.HTTP.Method == "POST" {
				body := []byte(req.Body)
				if req.IsBase64Encoded {
					if body, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
						t.Fatalf("base64: %v", err)
					}
				}
				if err := VerifySignature([]byte(DevAppSecret), body, req.Headers["x-hub-signature-256"]); err != nil {
					t.Fatalf("signature does not verify with %q: %v", DevAppSecret, err)
				}
			}
			resp, err := h.Handle(context.Background(), req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("Handle = %d, %v; want 200", resp.StatusCode, err)
			}
			if req.RequestContext.HTTP.Method == "POST" && len(pub.all()) == 0 {
				t.Error("nothing published")
			}
		})
	}
}

func apigwRequest(method, query, body string, headers map[string]string, b64 bool) events.APIGatewayV2HTTPRequest {
	h := map[string]string{
		"host":              "abcdef1234.execute-api.eu-west-1.amazonaws.com",
		"user-agent":        "facebookexternalua",
		"x-amzn-trace-id":   "Root=1-6740f2a0-0123456789abcdef01234567",
		"x-forwarded-for":   "173.252.107.1",
		"x-forwarded-port":  "443",
		"x-forwarded-proto": "https",
	}
	for k, v := range headers {
		h[k] = v
	}
	req := events.APIGatewayV2HTTPRequest{
		Version:         "2.0",
		RouteKey:        method + " /webhooks/instagram",
		RawPath:         "/webhooks/instagram",
		RawQueryString:  query,
		Headers:         h,
		Body:            body,
		IsBase64Encoded: b64,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			AccountID:    "123456789012",
			APIID:        "abcdef1234",
			DomainName:   "abcdef1234.execute-api.eu-west-1.amazonaws.com",
			DomainPrefix: "abcdef1234",
			RequestID:    "Vx1FhjYqIAMEbQA=",
			RouteKey:     method + " /webhooks/instagram",
			Stage:        "$default",
			Time:         "22/Nov/2026:11:30:00 +0000",
			TimeEpoch:    1795347000000,
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: method, Path: "/webhooks/instagram", Protocol: "HTTP/1.1",
				SourceIP: "173.252.107.1", UserAgent: "facebookexternalua",
			},
		},
	}
	if query != "" {
		req.QueryStringParameters = map[string]string{}
		for _, kv := range strings.Split(query, "&") {
			k, v, _ := strings.Cut(kv, "=")
			req.QueryStringParameters[k] = v
		}
	}
	return req
}

func writeAPIGatewayFixtures(t *testing.T) {
	t.Helper()
	body := readMeta(t, "message-text.json")
	sig := Sign([]byte(DevAppSecret), body)
	post := map[string]string{"content-type": "application/json", "x-hub-signature-256": sig}
	fixtures := map[string]events.APIGatewayV2HTTPRequest{
		"webhook-verify.json":              apigwRequest("GET", "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token="+devVerifyToken, "", nil, false),
		"webhook-post-message.json":        apigwRequest("POST", "", string(body), post, false),
		"webhook-post-message-base64.json": apigwRequest("POST", "", base64.StdEncoding.EncodeToString(body), post, true),
	}
	dir := filepath.Join(eventsDir, "apigw")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, req := range fixtures {
		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(req); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// writeFuzzSeeds turns every events/meta body into seeds of FuzzParse and FuzzVerifySignature.
func writeFuzzSeeds(t *testing.T) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(eventsDir, "meta", "*.json"))
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		writeSeed(t, "FuzzParse", name, fmt.Sprintf("[]byte(%q)\n", body))
		writeSeed(t, "FuzzVerifySignature", name, fmt.Sprintf("[]byte(%q)\nstring(%q)\n", body, Sign([]byte(DevAppSecret), body)))
	}
}

func writeSeed(t *testing.T, target, name, values string) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\n"+values), 0o644); err != nil {
		t.Fatal(err)
	}
}
