package inbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/inbox"
	"github.com/iginbox/iginbox/shared/metrics"
	"github.com/iginbox/iginbox/shared/store"
	"github.com/iginbox/iginbox/shared/webhook"
)

const (
	acct      = "17841400000000001"
	testToken = "IGAAtesttokenSECRET"
	apiToken  = "api-token-for-tests"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// fakeProfiles answers GetProfile from a table: an error for listed IGSIDs, else a profile.
type fakeProfiles struct {
	mu    sync.Mutex
	errs  map[string]error
	calls map[string]int
}

func newFakeProfiles() *fakeProfiles {
	return &fakeProfiles{errs: map[string]error{}, calls: map[string]int{}}
}

func (f *fakeProfiles) GetProfile(_ context.Context, token, igsid string) (graph.Profile, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[igsid]++
	if token != testToken {
		return graph.Profile{}, &graph.Error{Op: "get profile", HTTPStatus: 400, Code: 190, Message: "Invalid OAuth access token"}
	}
	if err := f.errs[igsid]; err != nil {
		return graph.Profile{}, err
	}
	return graph.Profile{Name: "Name " + igsid, Username: "user" + igsid, ProfilePic: "https://cdn.example/" + igsid, FollowerCount: 42, IsVerifiedUser: true}, nil
}

func (f *fakeProfiles) setErr(igsid string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[igsid] = err
}

func (f *fakeProfiles) count(igsid string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[igsid]
}

// fixture is one test's world: a fresh table, a connected channel, the service and the API.
type fixture struct {
	t        testing.TB
	db       *dynamodb.Client
	st       *store.Store
	profiles *fakeProfiles
	svc      *inbox.Service
	api      *api.Server
	logs     *syncBuffer
	metrics  *syncBuffer
	now      time.Time
	nowMu    sync.Mutex
}

// syncBuffer is the shared goroutine-safe log sink.
type syncBuffer = testenv.LogBuffer

type fixtureOpt func(*inbox.Config)

func newFixture(t *testing.T, opts ...fixtureOpt) *fixture {
	t.Helper()
	return newFixtureDB(t, testenv.DynamoDB(t), opts...)
}

func newFixtureDB(t testing.TB, db *dynamodb.Client, opts ...fixtureOpt) *fixture {
	t.Helper()
	f := &fixture{t: t, db: db, profiles: newFakeProfiles(), logs: &syncBuffer{}, metrics: &syncBuffer{}, now: t0}
	f.st = store.New(db, testenv.Table(t, db))
	cfg := inbox.Config{}
	for _, o := range opts {
		o(&cfg)
	}
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(f.logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.svc = inbox.New(f.st, f.st, f.profiles, cfg, log, inbox.WithClock(f.clock), inbox.WithMetrics(metrics.NewWriter(f.metrics, "test", "processor")))
	f.api = api.New(apiToken, log, api.WithConversations(f.st))
	f.connect(acct, false)
	return f
}

func (f *fixture) clock() time.Time {
	f.nowMu.Lock()
	defer f.nowMu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.nowMu.Lock()
	defer f.nowMu.Unlock()
	f.now = f.now.Add(d)
}

func (f *fixture) connect(account string, lock bool) {
	f.t.Helper()
	ctx := context.Background()
	if _, err := f.st.ConnectChannel(ctx, domain.Channel{ID: account, Username: "shop", AccessToken: testToken, TokenExpiresAt: t0.Add(60 * 24 * time.Hour)}, t0); err != nil {
		f.t.Fatalf("connect channel: %v", err)
	}
	if lock {
		if _, err := f.st.SetLockToSingleConversation(ctx, account, true, t0); err != nil {
			f.t.Fatalf("lock: %v", err)
		}
	}
}

// webhook items, in Meta's shapes.
type obj = map[string]any

func incoming(igsid string, ts int64, mid string, message obj) obj {
	message["mid"] = mid
	return obj{"sender": obj{"id": igsid}, "recipient": obj{"id": acct}, "timestamp": ts, "message": message}
}

func text(igsid string, ts int64, mid, body string) obj {
	return incoming(igsid, ts, mid, obj{"text": body})
}

func echo(igsid string, ts int64, mid, body string) obj {
	return obj{"sender": obj{"id": acct}, "recipient": obj{"id": igsid}, "timestamp": ts, "message": obj{"mid": mid, "text": body, "is_echo": true}}
}

func unsend(igsid string, ts int64, mid string) obj {
	return incoming(igsid, ts, mid, obj{"is_deleted": true})
}

func reaction(igsid string, ts int64, mid, action, emoji string) obj {
	r := obj{"mid": mid, "action": action}
	if action == "react" {
		r["reaction"], r["emoji"] = "love", emoji
	}
	return obj{"sender": obj{"id": igsid}, "recipient": obj{"id": acct}, "timestamp": ts, "reaction": r}
}

func read(igsid string, ts int64, mid string) obj {
	return obj{"sender": obj{"id": igsid}, "recipient": obj{"id": acct}, "timestamp": ts, "read": obj{"mid": mid}}
}

func postback(igsid string, ts int64, mid, title, payload string) obj {
	return obj{"sender": obj{"id": igsid}, "recipient": obj{"id": acct}, "timestamp": ts, "postback": obj{"mid": mid, "title": title, "payload": payload}}
}

func referralItem(igsid string, ts int64, ref string) obj {
	return obj{"sender": obj{"id": igsid}, "recipient": obj{"id": acct}, "timestamp": ts, "referral": obj{"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}}
}

// envs turns webhook items of one account into envelopes exactly as the webhook does.
func envs(t testing.TB, account string, items ...obj) []envelope.Envelope {
	t.Helper()
	body, err := json.Marshal(obj{"object": "instagram", "entry": []obj{{"id": account, "time": 1, "messaging": items}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := webhook.Parse(body)
	if err != nil {
		t.Fatalf("parse webhook: %v", err)
	}
	if len(b.Events) != len(items) {
		t.Fatalf("parsed %d events from %d items", len(b.Events), len(items))
	}
	// Round-trip through JSON like the queue does, so Raw does not alias the body.
	out := make([]envelope.Envelope, len(b.Events))
	for i, e := range b.Events {
		raw, err := envelope.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if out[i], err = envelope.Decode(raw); err != nil {
			t.Fatalf("decode envelope: %v", err)
		}
	}
	return out
}

// handle delivers items in order, failing the test on any error.
func (f *fixture) handle(items ...obj) {
	f.t.Helper()
	for _, e := range envs(f.t, acct, items...) {
		if err := f.svc.Handle(context.Background(), e); err != nil {
			f.t.Fatalf("handle %s: %v", e.Kind, err)
		}
	}
}

// get calls the API and decodes the JSON answer into out; it returns the status.
func (f *fixture) get(method, path string, query map[string]string, body string, out any) int {
	f.t.Helper()
	resp, _ := f.api.HandleRequest(context.Background(), events.APIGatewayV2HTTPRequest{
		RawPath:               path,
		Headers:               map[string]string{"Authorization": "Bearer " + apiToken},
		QueryStringParameters: query,
		Body:                  body,
		RequestContext:        events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path}},
	})
	if out != nil {
		if err := json.Unmarshal([]byte(resp.Body), out); err != nil {
			f.t.Fatalf("%s %s: decode %q: %v", method, path, resp.Body, err)
		}
	}
	return resp.StatusCode
}

type conversationsResp struct {
	Conversations []api.ConversationJSON `json:"conversations"`
	NextCursor    string                 `json:"next_cursor"`
}

type messagesResp struct {
	Messages   []api.MessageJSON `json:"messages"`
	NextCursor string            `json:"next_cursor"`
}

type errorResp struct {
	Error struct{ Code, Message string } `json:"error"`
}

// conversations lists every conversation (all pages) with the given filters.
func (f *fixture) conversations(query map[string]string) []api.ConversationJSON {
	f.t.Helper()
	var all []api.ConversationJSON
	q := map[string]string{"limit": "2"}
	for k, v := range query {
		q[k] = v
	}
	for {
		var r conversationsResp
		if code := f.get(http.MethodGet, "/api/conversations", q, "", &r); code != http.StatusOK {
			f.t.Fatalf("list conversations: %d", code)
		}
		all = append(all, r.Conversations...)
		if r.NextCursor == "" {
			return all
		}
		q["cursor"] = r.NextCursor
	}
}

// messages lists every message of a conversation (all pages).
func (f *fixture) messages(id string) []api.MessageJSON {
	f.t.Helper()
	var all []api.MessageJSON
	q := map[string]string{"limit": "3"}
	for {
		var r messagesResp
		if code := f.get(http.MethodGet, "/api/conversations/"+id+"/messages", q, "", &r); code != http.StatusOK {
			f.t.Fatalf("list messages: %d", code)
		}
		all = append(all, r.Messages...)
		if r.NextCursor == "" {
			return all
		}
		q["cursor"] = r.NextCursor
	}
}

// contactConversations returns the conversations of one contact.
func (f *fixture) contactConversations(igsid string) []api.ConversationJSON {
	var out []api.ConversationJSON
	for _, c := range f.conversations(nil) {
		if c.Contact.IGSID == igsid {
			out = append(out, c)
		}
	}
	return out
}

// onlyConversation returns the single conversation of a contact.
func (f *fixture) onlyConversation(igsid string) api.ConversationJSON {
	f.t.Helper()
	cs := f.contactConversations(igsid)
	if len(cs) != 1 {
		f.t.Fatalf("contact %s has %d conversations, want 1: %+v", igsid, len(cs), cs)
	}
	return cs[0]
}

// message returns the message of a mid through the API.
func (f *fixture) message(igsid, mid string) api.MessageJSON {
	f.t.Helper()
	for _, c := range f.contactConversations(igsid) {
		for _, m := range f.messages(c.ID) {
			if m.MID == mid {
				return m
			}
		}
	}
	f.t.Fatalf("no message %s", mid)
	return api.MessageJSON{}
}

// snapshot renders the whole read model (every conversation and its messages) as JSON.
func (f *fixture) snapshot() string {
	f.t.Helper()
	type conv struct {
		api.ConversationJSON
		Messages []api.MessageJSON `json:"messages"`
	}
	var out []conv
	for _, c := range f.conversations(nil) {
		out = append(out, conv{c, f.messages(c.ID)})
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

func mid(s string) string { return "aWdfbWVzc2FnZV9pdGVt" + s }

func ms(d time.Duration) int64 { return t0.Add(d).UnixMilli() }

func sqsRecord(e envelope.Envelope, receiveCount int) events.SQSMessage {
	b, _ := envelope.Encode(e)
	return events.SQSMessage{
		MessageId: fmt.Sprintf("%x", envelope.DedupID(e.Key))[:16],
		Body:      string(b),
		Attributes: map[string]string{
			"MessageGroupId":          e.GroupID(),
			"ApproximateReceiveCount": fmt.Sprint(receiveCount),
		},
	}
}

// permutations returns every order of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

func businessUnsend(igsid string, ts int64, mid string) obj {
	return obj{"sender": obj{"id": acct}, "recipient": obj{"id": igsid}, "timestamp": ts, "message": obj{"mid": mid, "is_echo": true, "is_deleted": true}}
}

func edit(igsid string, ts int64, mid, text string, n int) obj {
	return obj{"sender": obj{"id": igsid}, "recipient": obj{"id": acct}, "timestamp": ts, "message_edit": obj{"mid": mid, "text": text, "num_edit": n}}
}
