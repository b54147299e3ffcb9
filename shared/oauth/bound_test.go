package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/oauth"
)

// A state bound to a browser connects only in the browser holding the binding cookie: the
// authorize URL alone (leaked, or opened elsewhere) is refused, and nothing is stored.
func TestBrowserBoundState(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	redirectURI, err := h.svc.RedirectURIFor(testHost)
	if err != nil {
		t.Fatal(err)
	}
	follow := func(binding string) *url.URL {
		u, err := h.svc.AuthorizeURLBound(redirectURI, binding)
		if err != nil {
			t.Fatal(err)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cb, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		h.codes = append(h.codes, cb.Query().Get("code"))
		return cb
	}
	callback := func(cb *url.URL, cookie string) (url.Values, events.APIGatewayV2HTTPResponse) {
		ev := events.APIGatewayV2HTTPRequest{RawPath: cb.Path, RawQueryString: cb.RawQuery}
		if cookie != "" {
			ev.Cookies = []string{"other=1", oauth.BindingCookie + "=" + cookie}
		}
		ev.RequestContext.DomainName = testHost
		ev.RequestContext.HTTP.Method = http.MethodGet
		resp, err := h.svc.HandleCallback(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		loc, err := url.Parse(resp.Headers["Location"])
		if err != nil {
			t.Fatal(err)
		}
		return loc.Query(), resp
	}

	const binding = "0123456789abcdef0123456789abcdef"
	for name, cookie := range map[string]string{"no cookie": "", "another browser's cookie": "fedcba9876543210fedcba9876543210"} {
		q, _ := callback(follow(binding), cookie)
		if q.Get("error_type") != "invalid_state" || q.Get("connected") != "" {
			t.Errorf("%s: outcome %v, want invalid_state", name, q)
		}
	}
	if n := len(h.channels(t)); n != 0 {
		t.Fatalf("%d channels stored by refused callbacks", n)
	}
	q, resp := callback(follow(binding), binding)
	if q.Get("connected") == "" {
		t.Fatalf("the binding browser: outcome %v, want connected", q)
	}
	if len(resp.Cookies) != 1 || !strings.Contains(resp.Cookies[0], "Max-Age=0") {
		t.Errorf("the binding cookie is not cleared: %v", resp.Cookies)
	}
}
