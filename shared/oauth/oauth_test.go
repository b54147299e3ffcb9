package oauth_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/local/metasim"
	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/oauth"
	"github.com/iginbox/iginbox/shared/store"
)

const (
	appID     = "dev-app-id"
	appSecret = "dev-app-secret-value"
	frontend  = "http://127.0.0.1:5173/settings?tab=channels"
	testHost  = "127.0.0.1:3000"
)

// syncBuffer is the shared goroutine-safe log sink.
type syncBuffer = testenv.LogBuffer

type harness struct {
	svc   *oauth.Service
	st    *store.Store
	sim   *metasim.Simulator
	logs  *syncBuffer
	codes []string // authorization codes seen, to check they never reach the logs
	state []string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	db := testenv.DynamoDB(t)
	st := store.New(db, testenv.Table(t, db))
	sim := metasim.New(metasim.Config{AppSecret: appSecret})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gc := graph.New(graph.Config{BaseURL: srv.URL, AppID: appID, AppSecret: appSecret, Timeout: 5 * time.Second})
	svc, err := oauth.New(oauth.Config{
		AppID: appID, AppSecret: appSecret, FrontendURL: frontend,
		SubscribeBackoff: []time.Duration{time.Millisecond, time.Millisecond},
	}, gc, st, log)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{svc: svc, st: st, sim: sim, logs: logs}
	t.Cleanup(func() { h.assertNoSecretsLogged(t) })
	return h
}

func (h *harness) assertNoSecretsLogged(t *testing.T) {
	t.Helper()
	logs := h.logs.String()
	leaks := append([]string{"IGSIM", appSecret, "access_token"}, h.codes...)
	for _, s := range leaks {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("logs leak %q:\n%s", s, logs)
		}
	}
}

// authorize builds an authorize URL and follows it against the simulator; it returns the
// callback URL Instagram redirected the browser to.
func (h *harness) authorize(t *testing.T, extra string) *url.URL {
	t.Helper()
	redirectURI, err := h.svc.RedirectURIFor(testHost)
	if err != nil {
		t.Fatal(err)
	}
	u, err := h.svc.AuthorizeURL(redirectURI)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(u + extra)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d", resp.StatusCode)
	}
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	h.codes = append(h.codes, cb.Query().Get("code"))
	h.state = append(h.state, cb.Query().Get("state"))
	return cb
}

// callback drives the Lambda handler with the callback URL and returns the outcome query.
func (h *harness) callback(t *testing.T, cb *url.URL) url.Values {
	t.Helper()
	ev := events.APIGatewayV2HTTPRequest{RawPath: cb.Path, RawQueryString: cb.RawQuery}
	ev.RequestContext.DomainName = testHost
	ev.RequestContext.HTTP.Method = http.MethodGet
	resp, err := h.svc.HandleCallback(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("callback status %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Headers["Location"])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc.String(), "http://127.0.0.1:5173/settings?") || loc.Query().Get("tab") != "channels" {
		t.Fatalf("callback must redirect to FRONTEND_URL keeping its query, got %s", loc)
	}
	return loc.Query()
}

func (h *harness) channels(t *testing.T) []domain.Channel {
	t.Helper()
	chs, err := h.st.ListChannels(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range chs { // a listing never carries tokens: read them where they live
		if chs[i].AccessToken != "" {
			t.Fatal("a listed channel carries its token")
		}
		if chs[i].AccessToken, err = h.st.GetChannelToken(context.Background(), chs[i].ID); err != nil {
			t.Fatal(err)
		}
	}
	return chs
}

func TestAuthorizeURL(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	redirectURI, _ := h.svc.RedirectURIFor(testHost)
	raw, err := h.svc.AuthorizeURL(redirectURI)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	q := u.Query()
	want := map[string]string{
		"client_id":     appID,
		"redirect_uri":  "http://127.0.0.1:3000/instagram/callback",
		"response_type": "code",
		"scope":         "instagram_business_basic,instagram_business_manage_messages",
		"force_reauth":  "true",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if u.Path != "/oauth/authorize" {
		t.Errorf("path = %s", u.Path)
	}
	if parts := strings.Split(q.Get("state"), "."); len(parts) != 3 {
		t.Errorf("state = %q", q.Get("state"))
	}
	other, _ := h.svc.AuthorizeURL(redirectURI)
	if o, _ := url.Parse(other); o.Query().Get("state") == q.Get("state") {
		t.Error("every authorize URL needs a fresh state")
	}
}

func TestRedirectURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, base, domain, want string
		wantErr                  bool
	}{
		{"api gateway", "", "abc123.execute-api.eu-west-1.amazonaws.com", "https://abc123.execute-api.eu-west-1.amazonaws.com/instagram/callback", false},
		{"localhost with port", "", "localhost:3000", "http://localhost:3000/instagram/callback", false},
		{"loopback", "", "127.0.0.1:3000", "http://127.0.0.1:3000/instagram/callback", false},
		{"override", "https://inbox.example.com/", "abc.execute-api.amazonaws.com", "https://inbox.example.com/instagram/callback", false},
		{"no domain", "", "", "", true},
		{"hostile domain", "", "evil.example/x?", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := oauth.RedirectURI(tc.base, tc.domain)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestConnectCreatesChannel(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	before := time.Now()
	out := h.callback(t, h.authorize(t, ""))
	if out.Get("connected") != metasim.DefaultAccountID || out.Get("error_type") != "" {
		t.Fatalf("outcome = %v", out)
	}
	chs := h.channels(t)
	if len(chs) != 1 {
		t.Fatalf("channels = %d", len(chs))
	}
	ch := chs[0]
	exp := before.Add(metasim.LongLivedSeconds * time.Second)
	if ch.ID != metasim.DefaultAccountID || ch.Username != "iginbox_dev" || !strings.HasPrefix(ch.AccessToken, "IGSIML_") ||
		ch.TokenExpiresAt.Before(exp.Add(-time.Minute)) || ch.TokenExpiresAt.After(exp.Add(time.Minute)) ||
		ch.ReauthRequired || !ch.Subscribed {
		t.Fatalf("channel = %+v", ch)
	}
	if h.sim.Subscribed(ch.ID) != graph.SubscribedFields {
		t.Errorf("subscribed fields = %q", h.sim.Subscribed(ch.ID))
	}
}

func TestStateIsRefused(t *testing.T) {
	t.Parallel()
	tamper := func(f func(parts []string)) func(*url.URL) {
		return func(cb *url.URL) {
			q := cb.Query()
			parts := strings.Split(q.Get("state"), ".")
			f(parts)
			q.Set("state", strings.Join(parts, "."))
			cb.RawQuery = q.Encode()
		}
	}
	tests := []struct {
		name   string
		mutate func(*url.URL)
		now    time.Time
	}{
		{"missing", func(cb *url.URL) { q := cb.Query(); q.Del("state"); cb.RawQuery = q.Encode() }, time.Time{}},
		{"malformed", func(cb *url.URL) { q := cb.Query(); q.Set("state", "abc"); cb.RawQuery = q.Encode() }, time.Time{}},
		{"forged signature", tamper(func(p []string) { p[2] = "AAAA" + p[2][4:] }), time.Time{}},
		{"extended expiry", tamper(func(p []string) { p[1] = "99999999999" }), time.Time{}},
		{"other nonce", tamper(func(p []string) { p[0] = strings.Repeat("0", 32) }), time.Time{}},
		{"expired", func(*url.URL) {}, time.Now().Add(11 * time.Minute)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			cb := h.authorize(t, "")
			tc.mutate(cb)
			if !tc.now.IsZero() {
				oauth.SetNow(h.svc, func() time.Time { return tc.now })
			}
			out := h.callback(t, cb)
			if out.Get("error_type") != "invalid_state" || out.Get("code") != "400" || out.Get("error_message") == "" || out.Get("connected") != "" {
				t.Fatalf("outcome = %v", out)
			}
			if chs := h.channels(t); len(chs) != 0 {
				t.Fatalf("nothing may be stored, got %d channels", len(chs))
			}
			if n := h.sim.Count("POST /oauth/access_token"); n != 0 {
				t.Fatalf("refused state must not reach the code exchange (%d calls)", n)
			}
		})
	}
}

func TestReplayedStateIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cb := h.authorize(t, "")
	if out := h.callback(t, cb); out.Get("connected") == "" {
		t.Fatalf("first callback: %v", out)
	}
	// Same state again, even with a fresh code.
	fresh := h.authorize(t, "")
	q := fresh.Query()
	q.Set("state", cb.Query().Get("state"))
	fresh.RawQuery = q.Encode()
	if out := h.callback(t, fresh); out.Get("error_type") != "invalid_state" {
		t.Fatalf("replay: %v", out)
	}
	if n := h.sim.Count("POST /oauth/access_token"); n != 1 {
		t.Fatalf("code exchanges = %d, want 1", n)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	out := h.callback(t, h.authorize(t, "&sim_deny=1"))
	if out.Get("error_type") != "access_denied" || out.Get("code") != "user_denied" || out.Get("error_message") != "The user denied your request." {
		t.Fatalf("outcome = %v", out)
	}
	if chs := h.channels(t); len(chs) != 0 {
		t.Fatalf("cancel stored %d channels", len(chs))
	}
}

func TestMetaErrorsRedirectWithMetasMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		fault               metasim.Fault
		errorType, code     string
		message             string
		longLivedExchanges  int
		meCalls, subscribes int
	}{
		{
			name:      "code exchange OAuth error",
			fault:     metasim.Fault{Path: "/oauth/access_token", Code: 400, Message: "Invalid platform app"},
			errorType: "OAuthException", code: "400", message: "Invalid platform app",
		},
		{
			name:      "long-lived exchange fails",
			fault:     metasim.Fault{Path: "/access_token", Code: 190, Subcode: 463},
			errorType: "OAuthException", code: "190", message: "Error validating access token: Session has expired.",
			longLivedExchanges: 1,
		},
		{
			name:      "me fails",
			fault:     metasim.Fault{Path: "/" + graph.Version + "/me", Code: 100, Message: "Unsupported get request."},
			errorType: "GraphMethodException", code: "100", message: "Unsupported get request.",
			longLivedExchanges: 1, meCalls: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.sim.AddFault(tc.fault)
			out := h.callback(t, h.authorize(t, ""))
			if out.Get("error_type") != tc.errorType || out.Get("code") != tc.code || out.Get("error_message") != tc.message {
				t.Fatalf("outcome = %v", out)
			}
			if chs := h.channels(t); len(chs) != 0 {
				t.Fatalf("a failed connect stored %d channels", len(chs))
			}
			if got := h.sim.Count("GET /access_token"); got != tc.longLivedExchanges {
				t.Errorf("long-lived exchanges = %d, want %d", got, tc.longLivedExchanges)
			}
			if got := h.sim.Count("GET /{ver}/me"); got != tc.meCalls {
				t.Errorf("me calls = %d, want %d", got, tc.meCalls)
			}
		})
	}
}

func TestDuplicateConnectAndReconnect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	if out := h.callback(t, h.authorize(t, "")); out.Get("connected") == "" {
		t.Fatalf("first: %v", out)
	}
	first := h.channels(t)[0]
	if _, err := h.st.SetLockToSingleConversation(ctx, first.ID, true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := h.st.FlagReauth(ctx, first.ID, "graph refresh token: Error validating access token (code 190)", time.Now()); err != nil {
		t.Fatal(err)
	}
	if out := h.callback(t, h.authorize(t, "")); out.Get("connected") != first.ID {
		t.Fatalf("re-connect: %v", out)
	}
	chs := h.channels(t)
	if len(chs) != 1 {
		t.Fatalf("duplicate connect made %d channels", len(chs))
	}
	again := chs[0]
	switch {
	case again.AccessToken == first.AccessToken:
		t.Error("re-connect must store the new token")
	case again.ReauthRequired || again.ReauthReason != "":
		t.Errorf("re-connect must clear the flag: %+v", again)
	case !again.Subscribed:
		t.Error("re-connect must re-subscribe")
	case !again.LockToSingleConversation:
		t.Error("re-connect must keep settings")
	case !again.ConnectedAt.Equal(first.ConnectedAt):
		t.Error("re-connect must keep connected_at")
	}
	if n := h.sim.Count("POST /{ver}/me/subscribed_apps"); n != 2 {
		t.Errorf("subscriptions = %d, want 2 (one per connect)", n)
	}
}

func TestSubscriptionFailureIsRetriedAndVisible(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fault     metasim.Fault
		attempts  int
		connected bool
		reason    string
	}{
		{"transient then ok", metasim.Fault{Path: "/" + graph.Version + "/me/subscribed_apps", Code: 2, Times: 2}, 3, true, ""},
		{"transient forever", metasim.Fault{Path: "/" + graph.Version + "/me/subscribed_apps", Code: 2}, 3, false, "An unexpected error has occurred"},
		{"permanent", metasim.Fault{Path: "/" + graph.Version + "/me/subscribed_apps", Code: 200, Message: "(#200) Permissions error"}, 1, false, "(#200) Permissions error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.sim.AddFault(tc.fault)
			if out := h.callback(t, h.authorize(t, "")); out.Get("connected") == "" {
				t.Fatalf("a failed subscription still connects the channel: %v", out)
			}
			ch := h.channels(t)[0]
			if ch.Subscribed != tc.connected || !strings.Contains(ch.SubscribeError, tc.reason) || (tc.reason == "") != (ch.SubscribeError == "") {
				t.Errorf("subscribed=%v error=%q", ch.Subscribed, ch.SubscribeError)
			}
			if n := h.sim.Count("POST /{ver}/me/subscribed_apps"); n != tc.attempts {
				t.Errorf("attempts = %d, want %d", n, tc.attempts)
			}
		})
	}
}
