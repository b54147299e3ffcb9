package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/erasure"
	"github.com/iginbox/iginbox/shared/oauth"
	"github.com/iginbox/iginbox/shared/store"
)

const (
	idToken   = "identities-bootstrap-token"
	idSecret  = "identities-session-secret"
	chanA     = "17841400000000001"
	chanB     = "17841400000000002"
	idDomain  = "api.example.com"
	idOrigin  = "https://api.example.com"
	nowStart  = 1_790_000_000
	sessionTT = 2 * time.Hour
)

type idWorld struct {
	t    *testing.T
	st   *store.Store
	srv  *api.Server
	logs *bytes.Buffer
	mu   sync.Mutex
	now  time.Time
}

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, []envelope.Envelope) error { return nil }

func newIDWorld(t *testing.T) *idWorld {
	t.Helper()
	db := testenv.DynamoDB(t)
	w := &idWorld{t: t, st: store.New(db, testenv.Table(t, db)), logs: &bytes.Buffer{}, now: time.Unix(nowStart, 0)}
	clock := func() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.now }
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: w.logs, mu: &w.mu}, nil))
	w.srv = api.New(idToken, log,
		api.WithIdentities(w.st, api.IdentityConfig{SessionSecret: idSecret, SessionTTL: sessionTT, Now: clock}),
		api.WithConversations(w.st),
		api.WithReplies(w.st, nopPublisher{}, api.ReplyConfig{HumanAgent: true, Now: clock}))
	return w
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) { return l.w.Write(p) }

func (w *idWorld) advance(d time.Duration) { w.mu.Lock(); w.now = w.now.Add(d); w.mu.Unlock() }

type req struct {
	method, path, body string
	bearer, cookie     string
	origin             string
}

func (w *idWorld) do(r req) events.APIGatewayV2HTTPResponse {
	w.t.Helper()
	h := map[string]string{"host": idDomain, "x-forwarded-proto": "https"}
	if r.bearer != "" {
		h["authorization"] = "Bearer " + r.bearer
	}
	if r.origin != "" {
		h["origin"] = r.origin
	}
	path, rawQuery, _ := strings.Cut(r.path, "?")
	var query map[string]string
	if rawQuery != "" {
		k, v, _ := strings.Cut(rawQuery, "=")
		query = map[string]string{k: v}
	}
	ev := events.APIGatewayV2HTTPRequest{RawPath: path, QueryStringParameters: query, Headers: h, Body: r.body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{DomainName: idDomain, HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: r.method}}}
	if r.cookie != "" {
		ev.Cookies = []string{r.cookie}
	}
	resp, err := w.srv.HandleRequest(context.Background(), ev)
	if err != nil {
		w.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	return resp
}

func decode(t *testing.T, resp events.APIGatewayV2HTTPResponse) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
		t.Fatalf("body %q: %v", resp.Body, err)
	}
	return out
}

func (w *idWorld) createKey(body string) (string, string) {
	w.t.Helper()
	resp := w.do(req{method: http.MethodPost, path: "/api/keys", body: body, bearer: idToken})
	if resp.StatusCode != http.StatusCreated {
		w.t.Fatalf("POST /api/keys %s: %d %s", body, resp.StatusCode, resp.Body)
	}
	out := decode(w.t, resp)
	return out["id"].(string), out["key"].(string)
}

func (w *idWorld) seedConversation(channel, igsid string, base int64) string {
	w.t.Helper()
	if _, err := w.st.ConnectChannel(context.Background(), domain.Channel{ID: channel, Username: "shop" + channel[len(channel)-1:],
		AccessToken: "token-" + channel, TokenExpiresAt: w.now.Add(50 * 24 * time.Hour)}, w.now); err != nil {
		w.t.Fatalf("connect %s: %v", channel, err)
	}
	cw := &convWorld{t: w.t, st: w.st}
	return cw.seed(channel, igsid, base, 2, domain.StatusOpen)
}

func TestNamedKeys(t *testing.T) {
	t.Parallel()
	w := newIDWorld(t)
	recent := w.now.Add(-time.Hour).UnixMilli()
	convA := w.seedConversation(chanA, "5550001", recent)
	convB := w.seedConversation(chanB, "5550002", recent+10)

	aliceID, alice := w.createKey(`{"name":"Alice \ud83d\ude00","channels":["` + chanA + `"]}`)
	_, admin := w.createKey(`{"name":"Root","admin":true}`)

	// The key is returned once; the list shows the prefix only, never the key or its hash.
	list := w.do(req{method: http.MethodGet, path: "/api/keys", bearer: admin})
	if list.StatusCode != http.StatusOK || strings.Contains(list.Body, alice) || strings.Contains(list.Body, "hash") {
		t.Fatalf("GET /api/keys: %d %s", list.StatusCode, list.Body)
	}
	if !strings.Contains(list.Body, `"prefix":"igk_`+aliceID+`"`) || !strings.Contains(list.Body, "Alice \U0001F600") {
		t.Errorf("GET /api/keys lacks alice's prefix or name: %s", list.Body)
	}
	// Admin only.
	if r := w.do(req{method: http.MethodGet, path: "/api/keys", bearer: alice}); r.StatusCode != http.StatusForbidden {
		t.Errorf("GET /api/keys with a non-admin key: %d, want 403", r.StatusCode)
	}
	for _, bad := range []string{`{"name":""}`, `{"name":"x","channels":["abc"]}`, `{"name":"x","admin":true,"channels":["1"]}`, `{"name":"a\u0007b"}`} {
		if r := w.do(req{method: http.MethodPost, path: "/api/keys", body: bad, bearer: idToken}); r.StatusCode != http.StatusBadRequest {
			t.Errorf("POST /api/keys %s: %d, want 400", bad, r.StatusCode)
		}
	}

	// Channel-limited: the other channel's conversation does not exist for alice.
	r := w.do(req{method: http.MethodGet, path: "/api/conversations", bearer: alice})
	if got := ids(decode(t, r)["conversations"]); len(got) != 1 || got[0] != convA {
		t.Errorf("alice's list = %v, want only %s", got, convA)
	}
	r = w.do(req{method: http.MethodGet, path: "/api/conversations?channel_id=" + chanB, bearer: alice})
	if got := decode(t, r)["conversations"].([]any); len(got) != 0 {
		t.Errorf("alice's list of channel B = %v, want none", got)
	}
	for _, rq := range []req{
		{method: http.MethodGet, path: "/api/conversations/" + convB + "/messages"},
		{method: http.MethodPost, path: "/api/conversations/" + convB + "/status", body: `{"status":"resolved"}`},
		{method: http.MethodPost, path: "/api/conversations/" + convB + "/messages", body: `{"text":"hi"}`},
	} {
		rq.bearer = alice
		if r := w.do(rq); r.StatusCode != http.StatusNotFound {
			t.Errorf("alice %s %s: %d %s, want 404", rq.method, rq.path, r.StatusCode, r.Body)
		}
	}
	if r := w.do(req{method: http.MethodGet, path: "/api/conversations", bearer: admin}); len(ids(decode(t, r)["conversations"])) != 2 {
		t.Errorf("admin sees %s, want both conversations", r.Body)
	}

	// Replies and status changes record who did them.
	r = w.do(req{method: http.MethodPost, path: "/api/conversations/" + convA + "/messages", body: `{"text":"hello"}`, bearer: alice})
	if r.StatusCode != http.StatusAccepted || !strings.Contains(r.Body, `"sent_by":{"key_id":"`+aliceID+`","name":"Alice \ud83d\ude00"}`) && !strings.Contains(r.Body, `"sent_by":{"key_id":"`+aliceID+`","name":"Alice `+"\U0001F600"+`"}`) {
		t.Errorf("alice's reply: %d %s, want sent_by alice", r.StatusCode, r.Body)
	}
	r = w.do(req{method: http.MethodGet, path: "/api/conversations/" + convA + "/messages", bearer: admin})
	if !strings.Contains(r.Body, `"sent_by":{"key_id":"`+aliceID+`"`) {
		t.Errorf("messages API lacks sent_by: %s", r.Body)
	}
	r = w.do(req{method: http.MethodPost, path: "/api/conversations/" + convA + "/status", body: `{"status":"resolved"}`, bearer: alice})
	if out := decode(t, r); r.StatusCode != http.StatusOK || out["status_changed_by"] == nil || out["status_changed_by"].(map[string]any)["key_id"] != aliceID {
		t.Errorf("resolve by alice: %d %s, want status_changed_by alice", r.StatusCode, r.Body)
	}

	// last_used_at is recorded.
	r = w.do(req{method: http.MethodGet, path: "/api/keys", bearer: idToken})
	for _, k := range decode(t, r)["keys"].([]any) {
		if k := k.(map[string]any); k["id"] == aliceID && k["last_used_at"] == nil {
			t.Errorf("alice's last_used_at is empty after use: %v", k)
		}
	}

	// Revoked: 401 at once.
	if r := w.do(req{method: http.MethodDelete, path: "/api/keys/" + aliceID, bearer: admin}); r.StatusCode != http.StatusOK || !strings.Contains(r.Body, "revoked_at") {
		t.Fatalf("DELETE /api/keys/%s: %d %s", aliceID, r.StatusCode, r.Body)
	}
	if r := w.do(req{method: http.MethodGet, path: "/api/conversations", bearer: alice}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked key: %d, want 401", r.StatusCode)
	}
	if r := w.do(req{method: http.MethodDelete, path: "/api/keys/000000000000", bearer: admin}); r.StatusCode != http.StatusNotFound {
		t.Errorf("revoking an unknown key: %d, want 404", r.StatusCode)
	}
	// A forged key with a real id is refused.
	forged := alice[:len(alice)-4] + "AAAA"
	if r := w.do(req{method: http.MethodGet, path: "/api/conversations", bearer: forged}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged key: %d, want 401", r.StatusCode)
	}
	if strings.Contains(w.logs.String(), alice) || strings.Contains(w.logs.String(), admin) || strings.Contains(w.logs.String(), idToken) {
		t.Errorf("key material in the logs:\n%s", w.logs.String())
	}
}

func sessionCookie(t *testing.T, resp events.APIGatewayV2HTTPResponse) string {
	t.Helper()
	for _, c := range resp.Cookies {
		if v, ok := strings.CutPrefix(c, api.SessionCookie+"="); ok {
			for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Secure", "Path=/api", "Max-Age=7200"} {
				if !strings.Contains(c, attr) {
					t.Errorf("session cookie %q lacks %s", strings.SplitN(c, ";", 2)[1], attr)
				}
			}
			return api.SessionCookie + "=" + strings.SplitN(v, ";", 2)[0]
		}
	}
	t.Fatalf("no session cookie in %v", resp.Cookies)
	return ""
}

func TestSessions(t *testing.T) {
	t.Parallel()
	w := newIDWorld(t)
	conv := w.seedConversation(chanA, "5550003", w.now.Add(-time.Hour).UnixMilli())
	bobID, bob := w.createKey(`{"name":"Bob"}`)

	signIn := func(key string) events.APIGatewayV2HTTPResponse {
		return w.do(req{method: http.MethodPost, path: "/api/session", body: `{"key":"` + key + `"}`, origin: idOrigin})
	}
	if r := signIn("igk_000000000000_" + strings.Repeat("A", 32)); r.StatusCode != http.StatusUnauthorized || len(r.Cookies) != 0 {
		t.Errorf("sign in with an unknown key: %d %v", r.StatusCode, r.Cookies)
	}
	if r := w.do(req{method: http.MethodPost, path: "/api/session", body: `{"key":"` + bob + `"}`, origin: "https://evil.example"}); r.StatusCode != http.StatusForbidden {
		t.Errorf("sign in from another origin: %d, want 403", r.StatusCode)
	}
	r := signIn(bob)
	if r.StatusCode != http.StatusCreated || strings.Contains(r.Body, bob) {
		t.Fatalf("sign in: %d %s", r.StatusCode, r.Body)
	}
	cookie := sessionCookie(t, r)

	// The cookie authenticates reads; writes need our Origin.
	if r := w.do(req{method: http.MethodGet, path: "/api/session", cookie: cookie}); r.StatusCode != http.StatusOK || decode(t, r)["key_id"] != bobID {
		t.Errorf("GET /api/session with the cookie: %d %s", r.StatusCode, r.Body)
	}
	status := req{method: http.MethodPost, path: "/api/conversations/" + conv + "/status", body: `{"status":"resolved"}`, cookie: cookie}
	if r := w.do(status); r.StatusCode != http.StatusForbidden {
		t.Errorf("cookie write without Origin: %d, want 403", r.StatusCode)
	}
	status.origin = "https://evil.example"
	if r := w.do(status); r.StatusCode != http.StatusForbidden {
		t.Errorf("cookie write from another origin: %d, want 403", r.StatusCode)
	}
	status.origin = idOrigin
	if r := w.do(status); r.StatusCode != http.StatusOK || !strings.Contains(r.Body, `"name":"Bob"`) {
		t.Errorf("cookie write from our origin: %d %s", r.StatusCode, r.Body)
	}
	// A tampered cookie is refused.
	if r := w.do(req{method: http.MethodGet, path: "/api/session", cookie: cookie[:len(cookie)-2] + "xx"}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("tampered cookie: %d, want 401", r.StatusCode)
	}

	// Sessions expire.
	w.advance(sessionTT + time.Second)
	if r := w.do(req{method: http.MethodGet, path: "/api/session", cookie: cookie}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired session: %d, want 401", r.StatusCode)
	}

	// Sign out ends the session (and clears the cookie).
	cookie = sessionCookie(t, signIn(bob))
	r = w.do(req{method: http.MethodDelete, path: "/api/session", cookie: cookie, origin: idOrigin})
	if r.StatusCode != http.StatusNoContent || len(r.Cookies) != 1 || !strings.Contains(r.Cookies[0], "Max-Age=0") {
		t.Errorf("sign out: %d %v", r.StatusCode, r.Cookies)
	}
	if r := w.do(req{method: http.MethodGet, path: "/api/session", cookie: cookie}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("after sign out: %d, want 401", r.StatusCode)
	}

	// Revoking the key ends its sessions at once.
	cookie = sessionCookie(t, signIn(bob))
	if r := w.do(req{method: http.MethodDelete, path: "/api/keys/" + bobID, bearer: idToken}); r.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.Body)
	}
	if r := w.do(req{method: http.MethodGet, path: "/api/conversations", cookie: cookie}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("session of a revoked key: %d, want 401", r.StatusCode)
	}

	// The bootstrap key signs in too, as admin; bearer keeps working alongside.
	r = signIn(idToken)
	if r.StatusCode != http.StatusCreated || decode(t, r)["admin"] != true {
		t.Errorf("bootstrap sign in: %d %s", r.StatusCode, r.Body)
	}
	if strings.Contains(w.logs.String(), bob) || strings.Contains(w.logs.String(), strings.TrimPrefix(cookie, api.SessionCookie+"=")) {
		t.Errorf("key or session token in the logs")
	}
}

func TestConditionalGET(t *testing.T) {
	t.Parallel()
	w := newIDWorld(t)
	w.seedConversation(chanA, "5550004", w.now.Add(-time.Hour).UnixMilli())
	r := w.do(req{method: http.MethodGet, path: "/api/conversations", bearer: idToken})
	etag := r.Headers["ETag"]
	if r.StatusCode != http.StatusOK || etag == "" {
		t.Fatalf("GET: %d etag %q", r.StatusCode, etag)
	}
	ev := events.APIGatewayV2HTTPRequest{RawPath: "/api/conversations", Headers: map[string]string{"authorization": "Bearer " + idToken, "if-none-match": etag},
		RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodGet}}}
	resp, _ := w.srv.HandleRequest(context.Background(), ev)
	if resp.StatusCode != http.StatusNotModified || resp.Body != "" {
		t.Errorf("unchanged list with If-None-Match: %d %q, want 304 without body", resp.StatusCode, resp.Body)
	}
	w.seedConversation(chanA, "5550005", w.now.Add(-time.Minute).UnixMilli())
	resp, _ = w.srv.HandleRequest(context.Background(), ev)
	if resp.StatusCode != http.StatusOK || resp.Headers["ETag"] == etag {
		t.Errorf("changed list with the old ETag: %d etag %s, want 200 with a new ETag", resp.StatusCode, resp.Headers["ETag"])
	}
}

// recordingConnector records the binding of each authorize URL it builds.
type recordingConnector struct {
	mu       sync.Mutex
	bindings []string
}

func (c *recordingConnector) RedirectURIFor(domain string) (string, error) {
	return "https://" + domain + "/instagram/callback", nil
}

func (c *recordingConnector) AuthorizeURL(string) (string, error) {
	return c.AuthorizeURLBound("", "")
}

func (c *recordingConnector) AuthorizeURLBound(_, binding string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bindings = append(c.bindings, binding)
	return "https://www.instagram.com/oauth/authorize?state=s", nil
}

// A connect started from a browser session binds the state to that browser with a cookie only
// the callback receives; a bearer connect stays unbound; a channel-limited key cannot connect.
func TestConnectBindsBrowser(t *testing.T) {
	t.Parallel()
	w := newIDWorld(t)
	conn := &recordingConnector{}
	api.WithChannels(w.st, conn)(w.srv)
	w.seedConversation(chanA, "5550010", w.now.Add(-time.Hour).UnixMilli())
	w.seedConversation(chanB, "5550011", w.now.Add(-time.Hour).UnixMilli()+10)
	_, limited := w.createKey(`{"name":"limited","channels":["` + chanA + `"]}`)

	if r := w.do(req{method: http.MethodPost, path: "/api/channels/connect", body: `{}`, bearer: idToken}); r.StatusCode != http.StatusOK || len(r.Cookies) != 0 {
		t.Errorf("bearer connect: %d cookies %v", r.StatusCode, r.Cookies)
	}
	cookie := sessionCookie(t, w.do(req{method: http.MethodPost, path: "/api/session", body: `{"key":"` + idToken + `"}`, origin: idOrigin}))
	r := w.do(req{method: http.MethodPost, path: "/api/channels/connect", body: `{}`, cookie: cookie, origin: idOrigin})
	if r.StatusCode != http.StatusOK || len(r.Cookies) != 1 {
		t.Fatalf("session connect: %d cookies %v", r.StatusCode, r.Cookies)
	}
	c := r.Cookies[0]
	for _, attr := range []string{"iginbox_oauth=", "Path=/instagram/callback", "HttpOnly", "SameSite=Lax", "Secure", "Max-Age=600"} {
		if !strings.Contains(c, attr) {
			t.Errorf("binding cookie %q lacks %s", c, attr)
		}
	}
	conn.mu.Lock()
	bindings := append([]string(nil), conn.bindings...)
	conn.mu.Unlock()
	if len(bindings) != 2 || bindings[0] != "" || bindings[1] == "" || !strings.Contains(c, "iginbox_oauth="+bindings[1]+";") {
		t.Errorf("bindings %q, cookie %q: want unbound then bound to the cookie's value", bindings, c)
	}
	if r := w.do(req{method: http.MethodPost, path: "/api/channels/connect", body: `{}`, bearer: limited}); r.StatusCode != http.StatusForbidden {
		t.Errorf("limited key connect: %d, want 403", r.StatusCode)
	}
	if r := w.do(req{method: http.MethodGet, path: "/api/channels", bearer: limited}); !strings.Contains(r.Body, chanA) || strings.Contains(r.Body, chanB) {
		t.Errorf("limited key sees channel B: %s", r.Body)
	}
}

// A channel-limited key can neither disconnect another channel nor erase its customers.
func TestLimitedKeyErasure(t *testing.T) {
	t.Parallel()
	w := newIDWorld(t)
	pub := &recorder{}
	api.WithErasure(w.st, erasure.Starter{Store: w.st, Pub: pub}, api.ErasureConfig{StatusURL: oauth.PublicURL})(w.srv)
	convB := w.seedConversation(chanB, "5550020", w.now.Add(-time.Hour).UnixMilli())
	_, limited := w.createKey(`{"name":"limited","channels":["` + chanA + `"]}`)

	if r := w.do(req{method: http.MethodDelete, path: "/api/conversations/" + convB + "/contact", bearer: limited}); r.StatusCode != http.StatusNotFound {
		t.Errorf("limited key erasing another channel's contact: %d %s, want 404", r.StatusCode, r.Body)
	}
	if r := w.do(req{method: http.MethodDelete, path: "/api/channels/" + chanB, bearer: limited}); r.StatusCode != http.StatusNotFound {
		t.Errorf("limited key disconnecting another channel: %d %s, want 404", r.StatusCode, r.Body)
	}
	if ch, err := w.st.GetChannel(context.Background(), chanB); err != nil || ch.Disconnected() {
		t.Errorf("channel B after the refused calls: %+v %v", ch.Disconnected(), err)
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if len(pub.envs) != 0 {
		t.Errorf("%d erasure commands queued by refused calls", len(pub.envs))
	}
}
