// Package events_test keeps every file of events/ valid for `sam local invoke -e`, `make invoke`,
// the tests and the replay tool: each parses into the aws-lambda-go type of its folder, API
// Gateway events name a route of template.yaml, signed webhook POSTs verify with the documented
// dev app secret, webhook bodies split into valid envelopes and SQS bodies decode as envelopes.
package events_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/local/samtemplate"
	"github.com/iginbox/iginbox/shared/callbacks"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/webhook"
)

// Documented local values (events/README.md).
const (
	devAppSecret   = "dev-app-secret"
	devVerifyToken = "dev-verify-token"
	devAPIToken    = "dev-api-token"
)

// strict decodes b into v, refusing fields the type does not know (typos in fixtures).
func strict(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode as %T: %v", v, err)
	}
}

func TestEveryEventFileIsValid(t *testing.T) {
	t.Parallel()
	tmpl, err := samtemplate.Load(filepath.Join("..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]bool{}
	fns, err := tmpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fns {
		for _, e := range f.Events {
			if e.Type == samtemplate.EventHTTPAPI {
				routes[e.Method+" "+e.Path] = true
			}
		}
	}
	checks := map[string]func(t *testing.T, b []byte){
		"apigw":    func(t *testing.T, b []byte) { checkAPIGateway(t, b, routes) },
		"meta":     checkMeta,
		"hostile":  checkHostile,
		"sqs":      checkSQS,
		"schedule": checkSchedule,
		"dynamodb": checkDynamoDB,
	}
	counts := map[string]int{}
	err = filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if filepath.Dir(path) == "." {
			if path != "README.md" && path != "doc.go" && path != "events_test.go" {
				t.Errorf("%s: unexpected file at the top of events/ (put fixtures in a folder)", path)
			}
			return nil
		}
		folder := strings.Split(filepath.ToSlash(path), "/")[0]
		check, ok := checks[folder]
		if !ok || filepath.Ext(path) != ".json" {
			t.Errorf("%s: no check for this file (folders: apigw, meta, hostile, sqs, schedule, dynamodb; *.json only)", path)
			return nil
		}
		counts[folder]++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		t.Run(filepath.ToSlash(path), func(t *testing.T) {
			t.Parallel()
			check(t, b)
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for folder := range checks {
		if counts[folder] == 0 {
			t.Errorf("events/%s has no fixtures", folder)
		}
	}
}

func checkAPIGateway(t *testing.T, b []byte, routes map[string]bool) {
	var req lambdaevents.APIGatewayV2HTTPRequest
	strict(t, b, &req)
	if req.Version != "2.0" {
		t.Errorf("version %q, want 2.0 (HttpApi payload format)", req.Version)
	}
	method := req.RequestContext.HTTP.Method
	if !routes[req.RouteKey] || req.RequestContext.RouteKey != req.RouteKey {
		t.Errorf("routeKey %q (context %q) is not a route of template.yaml", req.RouteKey, req.RequestContext.RouteKey)
	}
	if !strings.HasPrefix(req.RouteKey, method+" ") || req.RequestContext.HTTP.Path != req.RawPath {
		t.Errorf("method %s / path %s disagree with routeKey %s / rawPath %s", method, req.RequestContext.HTTP.Path, req.RouteKey, req.RawPath)
	}
	// The raw path fits the route's template, with its path parameters.
	tmplPath := strings.TrimPrefix(req.RouteKey, method+" ")
	want, got := strings.Split(tmplPath, "/"), strings.Split(req.RawPath, "/")
	if len(want) != len(got) {
		t.Errorf("rawPath %s does not fit %s", req.RawPath, tmplPath)
	} else {
		for i, seg := range want {
			if name, ok := strings.CutPrefix(seg, "{"); ok {
				if v := req.PathParameters[strings.TrimSuffix(name, "}")]; v != got[i] {
					t.Errorf("pathParameters[%s] = %q, want %q", name, v, got[i])
				}
			} else if seg != got[i] {
				t.Errorf("rawPath %s does not fit %s", req.RawPath, tmplPath)
			}
		}
	}
	for k, v := range req.QueryStringParameters {
		if !strings.Contains(req.RawQueryString, k+"=") || v == "" {
			t.Errorf("queryStringParameters[%s] not in rawQueryString %q", k, req.RawQueryString)
		}
	}
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			t.Fatalf("base64 body: %v", err)
		}
	}
	callback := method == "POST" && (strings.HasSuffix(req.RouteKey, " /instagram/deauthorize") || strings.HasSuffix(req.RouteKey, " /instagram/data-deletion"))
	if len(body) > 0 && !callback && !json.Valid(body) {
		t.Errorf("body is not JSON")
	}
	switch {
	case strings.HasSuffix(req.RouteKey, " /webhooks/instagram") && method == "POST":
		if err := webhook.VerifySignature([]byte(devAppSecret), body, req.Headers["x-hub-signature-256"]); err != nil {
			t.Errorf("x-hub-signature-256 does not verify with %s: %v", devAppSecret, err)
		}
		checkMeta(t, body)
	case strings.HasSuffix(req.RouteKey, " /webhooks/instagram"):
		if req.QueryStringParameters["hub.verify_token"] != devVerifyToken {
			t.Errorf("hub.verify_token is not %s", devVerifyToken)
		}
	case callback:
		// Meta's signed_request, signed with the dev secret; checked at the event's own time
		// (a signed request is refused 24 hours after it was issued).
		form, err := url.ParseQuery(string(body))
		if err != nil {
			t.Fatalf("callback body is not a form: %v", err)
		}
		at := time.UnixMilli(req.RequestContext.TimeEpoch)
		if sr, err := callbacks.ParseSignedRequest(form.Get("signed_request"), devAppSecret, at); err != nil || sr.UserID == "" {
			t.Errorf("signed_request does not verify with %s at %s: %v", devAppSecret, at, err)
		}
		if req.Headers["content-type"] != "application/x-www-form-urlencoded" {
			t.Errorf("callback without content-type application/x-www-form-urlencoded")
		}
	case strings.Contains(req.RouteKey, " /api/"):
		if got := req.Headers["authorization"]; got != "Bearer "+devAPIToken {
			t.Errorf("authorization header %q, want the dev bearer token", got)
		}
		if method != "GET" && req.Headers["content-type"] != "application/json" {
			t.Errorf("%s without content-type application/json", method)
		}
	}
	for k := range req.Headers {
		if k != strings.ToLower(k) {
			t.Errorf("header %q is not lower case (API Gateway v2 lower-cases names)", k)
		}
	}
}

func checkMeta(t *testing.T, b []byte) {
	batch, err := webhook.Parse(b)
	if err != nil {
		t.Fatalf("webhook body: %v", err)
	}
	if batch.Object != webhook.ObjectInstagram || len(batch.Events) == 0 {
		t.Errorf("object %q with %d events, want instagram events", batch.Object, len(batch.Events))
	}
	for _, e := range batch.Events {
		if err := e.Validate(); err != nil {
			t.Errorf("event %s: %v", e.Key, err)
		}
	}
}

// checkHostile: a catalogue body is a webhook body written as Meta writes them (only printable
// ASCII: every other character escaped) whose events are all messages, reactions or postbacks.
func checkHostile(t *testing.T, b []byte) {
	checkMeta(t, b)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			t.Fatalf("byte %d is %#x: not escaped like Meta", i, c)
		}
	}
	batch, _ := webhook.Parse(b)
	for _, e := range batch.Events {
		if e.Kind != envelope.KindMessage && e.Kind != envelope.KindReaction && e.Kind != envelope.KindPostback {
			t.Errorf("event %s is a %s", e.Key, e.Kind)
		}
	}
}

func checkSQS(t *testing.T, b []byte) {
	var ev lambdaevents.SQSEvent
	strict(t, b, &ev)
	if len(ev.Records) == 0 || len(ev.Records) > 10 {
		t.Fatalf("%d records, want 1..10 (the processor's batch size)", len(ev.Records))
	}
	for i, r := range ev.Records {
		env, err := envelope.Decode([]byte(r.Body))
		if err != nil {
			t.Errorf("record %d: body: %v", i, err)
			continue
		}
		if r.EventSource != "aws:sqs" || !strings.HasSuffix(r.EventSourceARN, ".fifo") {
			t.Errorf("record %d: source %q %q, want aws:sqs from a .fifo queue", i, r.EventSource, r.EventSourceARN)
		}
		if g := r.Attributes["MessageGroupId"]; g != env.GroupID() {
			t.Errorf("record %d: MessageGroupId %q, want %q", i, g, env.GroupID())
		}
		if d, ok := r.Attributes["MessageDeduplicationId"]; ok && d != env.DedupID() {
			t.Errorf("record %d: MessageDeduplicationId %q, want %q", i, d, env.DedupID())
		}
		if r.Attributes["ApproximateReceiveCount"] == "" {
			t.Errorf("record %d: no ApproximateReceiveCount", i)
		}
	}
}

func checkSchedule(t *testing.T, b []byte) {
	var ev lambdaevents.EventBridgeEvent
	strict(t, b, &ev)
	if ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" || ev.Time.IsZero() || len(ev.Resources) != 1 {
		t.Errorf("not an EventBridge scheduled event: %+v", ev)
	}
	if !json.Valid(ev.Detail) {
		t.Errorf("detail is not JSON")
	}
}

// checkDynamoDB: a stream event as the publisher receives it (keys pk/sk, both images of a
// NEW_AND_OLD_IMAGES stream, distinct increasing sequence numbers).
func checkDynamoDB(t *testing.T, b []byte) {
	var ev lambdaevents.DynamoDBEvent
	strict(t, b, &ev)
	if len(ev.Records) == 0 || len(ev.Records) > 100 {
		t.Fatalf("%d records, want 1..100 (the publisher's batch size)", len(ev.Records))
	}
	prev := ""
	for i, r := range ev.Records {
		c := r.Change
		if r.EventSource != "aws:dynamodb" || r.EventID == "" || c.StreamViewType != "NEW_AND_OLD_IMAGES" {
			t.Errorf("record %d: source %q, id %q, view %q", i, r.EventSource, r.EventID, c.StreamViewType)
		}
		if c.Keys["pk"].DataType() != lambdaevents.DataTypeString || c.Keys["sk"].DataType() != lambdaevents.DataTypeString {
			t.Errorf("record %d: keys %v", i, c.Keys)
		}
		if len(c.SequenceNumber) != len(prev) && prev != "" || c.SequenceNumber <= prev {
			t.Errorf("record %d: sequence number %q after %q", i, c.SequenceNumber, prev)
		}
		prev = c.SequenceNumber
		wantNew, wantOld := r.EventName != "REMOVE", r.EventName != "INSERT"
		if (c.NewImage != nil) != wantNew || (c.OldImage != nil) != wantOld {
			t.Errorf("record %d (%s): images new=%t old=%t", i, r.EventName, c.NewImage != nil, c.OldImage != nil)
		}
	}
}
