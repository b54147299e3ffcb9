package graph_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iginbox/iginbox/local/metasim"
	"github.com/iginbox/iginbox/shared/graph"
)

const secretToken = "IGAAsecret-token-value"

// recorded is one request as the Graph server saw it.
type recorded struct {
	Method, Path string
	Query, Form  url.Values
}

func newServer(t *testing.T, status int, body string) (*graph.Client, *[]recorded) {
	t.Helper()
	var mu sync.Mutex
	var reqs []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		reqs = append(reqs, recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Form: r.PostForm})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return graph.New(graph.Config{BaseURL: srv.URL, AppID: "app-id", AppSecret: "app-secret-value", Timeout: 2 * time.Second}), &reqs
}

func TestErrorsAreTypedAndClassified(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		body      string
		call      func(c *graph.Client) error
		code, sub int
		typ, msg  string
		dead      bool
		transient bool
		rateLimit bool
		unknown   bool
		consent   bool
	}{
		{
			name: "190 expired on refresh", status: 400,
			body: `{"error":{"message":"Error validating access token: Session has expired.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AbC"}}`,
			call: func(c *graph.Client) error { _, err := c.RefreshToken(context.Background(), secretToken); return err },
			code: 190, sub: 463, typ: "OAuthException", msg: "Error validating access token: Session has expired.", dead: true,
		},
		{
			name: "error inside a 200 body", status: 200,
			body: `{"error":{"message":"(#200) disabled","type":"OAuthException","code":200,"error_subcode":2534041,"fbtrace_id":"x"}}`,
			call: func(c *graph.Client) error { return c.Subscribe(context.Background(), secretToken) },
			code: 200, sub: 2534041, typ: "OAuthException", msg: "(#200) disabled", dead: true,
		},
		{
			name: "rate limited", status: 403,
			body: `{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","code":4,"fbtrace_id":"x"}}`,
			call: func(c *graph.Client) error { _, err := c.Me(context.Background(), secretToken); return err },
			code: 4, typ: "OAuthException", msg: "(#4) Application request limit reached", transient: true, rateLimit: true,
		},
		{
			name: "server error", status: 503, body: `{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","code":2}}`,
			call: func(c *graph.Client) error { _, err := c.Me(context.Background(), secretToken); return err },
			code: 2, typ: "OAuthException", msg: "An unexpected error has occurred. Please retry your request later.", transient: true,
		},
		{
			name: "5xx without a JSON body", status: 502, body: `<html>bad gateway</html>`,
			call: func(c *graph.Client) error { _, err := c.Me(context.Background(), secretToken); return err },
			msg:  "unexpected response: Bad Gateway", transient: true,
		},
		{
			name: "9010 profile", status: 400, body: `{"error":{"message":"No matching Instagram user","type":"IGApiException","code":9010,"fbtrace_id":"x"}}`,
			call: func(c *graph.Client) error {
				_, err := c.GetProfile(context.Background(), secretToken, "123")
				return err
			},
			code: 9010, typ: "IGApiException", msg: "No matching Instagram user", unknown: true,
		},
		{
			name: "230 consent", status: 400, body: `{"error":{"message":"User consent is required to access user profile","type":"IGApiException","code":230}}`,
			call: func(c *graph.Client) error {
				_, err := c.GetProfile(context.Background(), secretToken, "123")
				return err
			},
			code: 230, typ: "IGApiException", msg: "User consent is required to access user profile", consent: true,
		},
		{
			name: "OAuth error body on long-lived exchange", status: 400, body: `{"error_type":"OAuthException","code":400,"error_message":"Invalid OAuth access token"}`,
			call: func(c *graph.Client) error {
				_, err := c.ExchangeLongLived(context.Background(), secretToken)
				return err
			},
			code: 400, typ: "OAuthException", msg: "Invalid OAuth access token",
		},
		{
			name: "OAuth error body on code exchange", status: 400, body: `{"error_type":"OAuthException","code":400,"error_message":"This authorization code has been used"}`,
			call: func(c *graph.Client) error {
				_, err := c.ExchangeCode(context.Background(), "the-code", "https://x.example/instagram/callback")
				return err
			},
			code: 400, typ: "OAuthException", msg: "This authorization code has been used",
		},
		{
			name: "success false on subscribe", status: 200, body: `{"success":false}`,
			call: func(c *graph.Client) error { return c.Subscribe(context.Background(), secretToken) },
			msg:  "subscription was not confirmed (success=false)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newServer(t, tc.status, tc.body)
			err := tc.call(c)
			ge, ok := graph.AsError(err)
			if !ok {
				t.Fatalf("want *graph.Error, got %T %v", err, err)
			}
			if ge.Code != tc.code || ge.Subcode != tc.sub || ge.Type != tc.typ || ge.Message != tc.msg || ge.HTTPStatus != tc.status {
				t.Errorf("got %+v", ge)
			}
			checks := []struct {
				name      string
				got, want bool
			}{
				{"IsTokenDead", graph.IsTokenDead(err), tc.dead},
				{"IsTransient", graph.IsTransient(err), tc.transient},
				{"IsRateLimited", graph.IsRateLimited(err), tc.rateLimit},
				{"IsUnknownUser", graph.IsUnknownUser(err), tc.unknown},
				{"IsConsentRequired", graph.IsConsentRequired(err), tc.consent},
			}
			for _, ch := range checks {
				if ch.got != ch.want {
					t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
				}
			}
			assertNoSecrets(t, err.Error())
		})
	}
}

func assertNoSecrets(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{secretToken, "app-secret-value", "the-code", "access_token="} {
		if strings.Contains(s, secret) {
			t.Errorf("%q leaks %q", s, secret)
		}
	}
}

func TestRequestsCarryMetaParameters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, reqs := newServer(t, 200, `{"access_token":"new","token_type":"bearer","expires_in":5184000,"success":true,"user_id":17841400000000001,"username":"u"}`)
	if _, err := c.RefreshToken(ctx, secretToken); err != nil {
		t.Fatal(err)
	}
	tok, err := c.ExchangeLongLived(ctx, secretToken)
	if err != nil {
		t.Fatal(err)
	}
	if tok.ExpiresIn != 5184000 || tok.AccessToken != "new" {
		t.Errorf("token = %+v", tok)
	}
	if err := c.Subscribe(ctx, secretToken); err != nil {
		t.Fatal(err)
	}
	acct, err := c.Me(ctx, secretToken)
	if err != nil {
		t.Fatal(err)
	}
	if acct.UserID != "17841400000000001" {
		t.Errorf("numeric user_id must keep every digit, got %q", acct.UserID)
	}
	if _, err := c.GetProfile(ctx, secretToken, "987654"); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		method, path string
		params       map[string]string
	}{
		{"GET", "/refresh_access_token", map[string]string{"grant_type": "ig_refresh_token", "access_token": secretToken}},
		{"GET", "/access_token", map[string]string{"grant_type": "ig_exchange_token", "client_secret": "app-secret-value", "access_token": secretToken}},
		{"POST", "/" + graph.Version + "/me/subscribed_apps", map[string]string{"subscribed_fields": "messages,message_reactions,messaging_seen,messaging_postbacks,messaging_referral", "access_token": secretToken}},
		{"GET", "/" + graph.Version + "/me", map[string]string{"fields": "user_id,username,name,account_type,profile_picture_url"}},
		{"GET", "/" + graph.Version + "/987654", map[string]string{"fields": graph.ProfileFields}},
	}
	if len(*reqs) != len(want) {
		t.Fatalf("requests = %d", len(*reqs))
	}
	for i, w := range want {
		got := (*reqs)[i]
		if got.Method != w.method || got.Path != w.path {
			t.Errorf("request %d = %s %s, want %s %s", i, got.Method, got.Path, w.method, w.path)
		}
		params := got.Query
		if got.Method == "POST" {
			params = got.Form
		}
		for k, v := range w.params {
			if params.Get(k) != v {
				t.Errorf("request %d %s = %q, want %q", i, k, params.Get(k), v)
			}
		}
	}
}

func TestTransportFailuresAreRedacted(t *testing.T) {
	t.Parallel()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name    string
		base    string
		timeout bool
	}{
		{"timeout", slow.URL, true},
		{"connection refused", closed.URL, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := graph.New(graph.Config{BaseURL: tc.base, AppSecret: "app-secret-value", Timeout: 200 * time.Millisecond})
			calls := map[string]func() error{
				"refresh":  func() error { _, err := c.RefreshToken(context.Background(), secretToken); return err },
				"exchange": func() error { _, err := c.ExchangeLongLived(context.Background(), secretToken); return err },
				"code": func() error {
					_, err := c.ExchangeCode(context.Background(), "the-code", "http://127.0.0.1/instagram/callback")
					return err
				},
			}
			for name, call := range calls {
				err := call()
				if err == nil {
					t.Fatalf("%s: want an error", name)
				}
				if !graph.IsTransient(err) {
					t.Errorf("%s: transport failure must be transient: %v", name, err)
				}
				ge, isGraph := graph.AsError(err)
				if tc.timeout && (!isGraph || !ge.Timeout) {
					t.Errorf("%s: want a timeout error, got %v", name, err)
				}
				assertNoSecrets(t, err.Error())
			}
		})
	}
}

func TestContextCancellationPropagates(t *testing.T) {
	t.Parallel()
	c, _ := newServer(t, 200, `{}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Me(ctx, secretToken)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	assertNoSecrets(t, err.Error())
}

func TestHostsMapToBaseURL(t *testing.T) {
	t.Parallel()
	real := graph.New(graph.Config{})
	if real.AuthorizeURL() != "https://www.instagram.com/oauth/authorize" || real.TokenURL() != "https://api.instagram.com/oauth/access_token" {
		t.Errorf("real hosts: %s %s", real.AuthorizeURL(), real.TokenURL())
	}
	sim := graph.New(graph.Config{BaseURL: "http://127.0.0.1:4590/"})
	if sim.AuthorizeURL() != "http://127.0.0.1:4590/oauth/authorize" || sim.TokenURL() != "http://127.0.0.1:4590/oauth/access_token" {
		t.Errorf("simulated hosts: %s %s", sim.AuthorizeURL(), sim.TokenURL())
	}
}

// TestAgainstSimulator runs the whole token lifecycle against metasim.
func TestAgainstSimulator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim := metasim.New(metasim.Config{AppSecret: "app-secret-value"})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c := graph.New(graph.Config{BaseURL: srv.URL, AppID: "app-id", AppSecret: "app-secret-value"})

	redirect := "http://127.0.0.1:3000/instagram/callback"
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(c.AuthorizeURL() + "?" + url.Values{"client_id": {"app-id"}, "redirect_uri": {redirect}, "response_type": {"code"}, "state": {"s1"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if resp.StatusCode != http.StatusFound || code == "" || loc.Query().Get("state") != "s1" {
		t.Fatalf("authorize: %d %s", resp.StatusCode, loc)
	}
	short, err := c.ExchangeCode(ctx, code, redirect)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExchangeCode(ctx, code, redirect); err == nil || graph.IsTransient(err) {
		t.Fatalf("a used code must fail with Meta's OAuth error, got %v", err)
	}
	long, err := c.ExchangeLongLived(ctx, short.AccessToken)
	if err != nil || long.ExpiresIn != metasim.LongLivedSeconds {
		t.Fatalf("long-lived: %+v %v", long, err)
	}
	acct, err := c.Me(ctx, long.AccessToken)
	if err != nil || acct.UserID != metasim.DefaultAccountID {
		t.Fatalf("me: %+v %v", acct, err)
	}
	if err := c.Subscribe(ctx, long.AccessToken); err != nil || sim.Subscribed(acct.UserID) != graph.SubscribedFields {
		t.Fatalf("subscribe: %v %q", err, sim.Subscribed(acct.UserID))
	}
	if _, err := c.RefreshToken(ctx, long.AccessToken); err != nil {
		t.Fatal(err)
	}
	for igsid, check := range map[string]func(error) bool{
		"1111119010": graph.IsUnknownUser, "1111110100": graph.IsUnknownUser,
		"1111110230": graph.IsConsentRequired, "1111110190": graph.IsTokenDead,
	} {
		if _, err := c.GetProfile(ctx, long.AccessToken, igsid); !check(err) {
			t.Errorf("profile %s: unexpected %v", igsid, err)
		}
	}
	p, err := c.GetProfile(ctx, long.AccessToken, "1234567")
	if err != nil || p.Username == "" {
		t.Fatalf("profile: %+v %v", p, err)
	}
	sim.AddFault(metasim.Fault{Path: "/refresh_access_token", Code: 190, Subcode: 463, Times: 1})
	if _, err := c.RefreshToken(ctx, long.AccessToken); !graph.IsTokenDead(err) {
		t.Fatalf("fault: want 190, got %v", err)
	}
	if _, err := c.RefreshToken(ctx, long.AccessToken); err != nil {
		t.Fatalf("fault must fire once: %v", err)
	}
	sim.Revoke(acct.UserID)
	if _, err := c.Me(ctx, long.AccessToken); !graph.IsTokenDead(err) {
		t.Fatalf("revoked: want 190, got %v", err)
	}
}
