package oauth_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/oauth"
)

const (
	fuzzSecret   = "app-secret-for-oauth-fuzzing"
	fuzzFrontend = "https://app.example.com/settings"
	fuzzToken    = "IGAAlonglivedtokenforfuzzing"
)

// fuzzGraph and fuzzStore are in-memory fakes of the flow's consumer interfaces; they count
// the calls that only a valid state may reach.
type fuzzGraph struct {
	mu        sync.Mutex
	exchanges int
}

func (g *fuzzGraph) AuthorizeURL() string { return "https://www.instagram.com/oauth/authorize" }
func (g *fuzzGraph) ExchangeCode(_ context.Context, code, _ string) (graph.ShortLivedToken, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.exchanges++
	return graph.ShortLivedToken{AccessToken: "short-" + code, UserID: "17841400000000001"}, nil
}
func (g *fuzzGraph) ExchangeLongLived(context.Context, string) (graph.Token, error) {
	return graph.Token{AccessToken: fuzzToken, ExpiresIn: 5184000}, nil
}
func (g *fuzzGraph) Me(context.Context, string) (graph.Account, error) {
	return graph.Account{UserID: "17841400000000001", Username: "shop"}, nil
}
func (g *fuzzGraph) Subscribe(context.Context, string) error { return nil }

type fuzzStore struct {
	mu   sync.Mutex
	used map[string]bool
}

func (s *fuzzStore) UseOAuthState(_ context.Context, nonce string, _, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used[nonce] {
		return domain.ErrConflict
	}
	s.used[nonce] = true
	return nil
}
func (s *fuzzStore) ConnectChannel(context.Context, domain.Channel, time.Time) (bool, error) {
	return true, nil
}
func (s *fuzzStore) SetSubscription(context.Context, string, bool, string, time.Time) error {
	return nil
}

// FuzzCallback feeds arbitrary callback query strings, states and domains to the real
// callback handler. It always redirects (302) to FRONTEND_URL, never leaks a secret, and only
// a state it issued itself, used once, reaches the code exchange.
func FuzzCallback(f *testing.F) {
	f.Add(byte(0), "state=abc&code=xyz#_", "", "api.example.com")
	f.Add(byte(1), "code=AQBx123#_", "", "api.example.com")
	f.Add(byte(1), "error=access_denied&error_reason=user_denied&error_description=Permissions+error", "", "api.example.com")
	f.Add(byte(1), "", "", "api.example.com")
	f.Add(byte(2), "code=x", "x", "api.example.com")
	f.Add(byte(2), "code=x", ".1.", "")
	f.Add(byte(3), "code=x", "AAAA", "evil.example.com:443")
	f.Add(byte(4), "code=x", "", "api.example.com")
	f.Add(byte(0), "state=00000000000000000000000000000000.99999999999.AAAA&code=1", "", "api.example.com")
	f.Add(byte(0), "state=%zz&code=%", "", "api.example.com")
	f.Add(byte(0), "state=a.b.c.d&state=e", "", "[::1]")

	g := &fuzzGraph{}
	st := &fuzzStore{used: map[string]bool{}}
	svc, err := oauth.New(oauth.Config{AppID: "123", AppSecret: fuzzSecret, FrontendURL: fuzzFrontend, SubscribeBackoff: []time.Duration{}},
		g, st, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, mode byte, rawQuery, stateTail, host string) {
		// mode 0: the fuzzer's own query; 1: a freshly issued state; 2: issued state + tail;
		// 3: issued state with its signature replaced; 4: issued state used twice.
		q := rawQuery
		valid := ""
		if mode%5 != 0 {
			u, err := svc.AuthorizeURL("https://api.example.com/instagram/callback")
			if err != nil {
				t.Fatal(err)
			}
			pu, _ := url.Parse(u)
			valid = pu.Query().Get("state")
			state := valid
			switch mode % 5 {
			case 2:
				state += stateTail
			case 3:
				state = state[:strings.LastIndex(state, ".")+1] + stateTail
			}
			q = "state=" + url.QueryEscape(state) + "&" + rawQuery
		}
		g.mu.Lock()
		before := g.exchanges
		g.mu.Unlock()
		call := func() events.APIGatewayV2HTTPResponse {
			resp, err := svc.HandleCallback(context.Background(), events.APIGatewayV2HTTPRequest{
				RawQueryString: q,
				RequestContext: events.APIGatewayV2HTTPRequestContext{DomainName: host,
					HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodGet, Path: oauth.CallbackPath}},
			})
			if err != nil {
				t.Fatalf("handler error: %v", err)
			}
			if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Headers["Location"], fuzzFrontend+"?") {
				t.Fatalf("callback %q: %d to %q, want a 302 to FRONTEND_URL", q, resp.StatusCode, resp.Headers["Location"])
			}
			for _, secret := range []string{fuzzSecret, fuzzToken} {
				if strings.Contains(resp.Headers["Location"], secret) {
					t.Fatalf("a secret reached the redirect")
				}
			}
			return resp
		}
		resp := call()
		loc, err := url.Parse(resp.Headers["Location"])
		if err != nil {
			t.Fatalf("unparsable Location %q", resp.Headers["Location"])
		}
		g.mu.Lock()
		exchanged := g.exchanges - before
		g.mu.Unlock()
		parsed, _ := url.ParseQuery(q)
		sentState := parsed.Get("state")
		if sentState != valid || valid == "" {
			// Not the state we issued (or a fuzzer-made one): refused before anything else.
			if exchanged != 0 || (loc.Query().Get("connected") != "" && valid == "") {
				t.Fatalf("callback %q with a state we did not issue reached the exchange", q)
			}
			_, badDomain := svc.RedirectURIFor(host)
			if valid == "" && badDomain == nil && loc.Query().Get("error_type") != "invalid_state" {
				t.Fatalf("callback %q: outcome %q, want invalid_state", q, loc.RawQuery)
			}
		}
		if mode%5 == 4 {
			// The same (valid) state a second time is refused, whatever the first outcome.
			again, _ := url.Parse(call().Headers["Location"])
			if again.Query().Get("connected") != "" || (exchanged > 0 && again.Query().Get("error_type") != "invalid_state") {
				t.Fatalf("replayed state accepted: %q", again.RawQuery)
			}
		}
	})
}
