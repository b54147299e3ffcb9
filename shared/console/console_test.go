package console_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/console"
)

// MaxAssetBytes is the budget of the console's script and styles together (uncompressed).
const MaxAssetBytes = 150 << 10

func get(t *testing.T, s *console.Server, path string, query map[string]string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := s.Handle(context.Background(), events.APIGatewayV2HTTPRequest{RawPath: path, QueryStringParameters: query,
		RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodGet}}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestConsole(t *testing.T) {
	t.Parallel()
	s, err := console.New()
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Size(); n > MaxAssetBytes || n == 0 {
		t.Errorf("script + styles = %d bytes, budget %d", n, MaxAssetBytes)
	}
	page := get(t, s, "/", nil)
	csp := page.Headers["Content-Security-Policy"]
	if page.StatusCode != http.StatusOK || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "default-src 'none'") {
		t.Fatalf("GET /: %d CSP %q", page.StatusCode, csp)
	}
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]|\son[a-z]+=|<style`).MatchString(page.Body) {
		t.Error("the page has inline script, handlers or styles")
	}
	if regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(page.Body) {
		t.Error("the page refers to another origin")
	}
	// Every referenced asset is served, versioned, cacheable for good.
	refs := regexp.MustCompile(`(?:src|href)="(/console/[^"?]+)\?v=([^"]+)"`).FindAllStringSubmatch(page.Body, -1)
	if len(refs) != 3 {
		t.Fatalf("assets referenced: %v, want app.css, app.js, icon.svg", refs)
	}
	for _, r := range refs {
		a := get(t, s, r[1], map[string]string{"v": r[2]})
		if a.StatusCode != http.StatusOK || a.Body == "" || !strings.Contains(a.Headers["Cache-Control"], "immutable") || a.Headers["X-Content-Type-Options"] != "nosniff" {
			t.Errorf("GET %s: %d %v", r[1], a.StatusCode, a.Headers)
		}
	}
	if r := get(t, s, "/console/nope.js", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown asset: %d", r.StatusCode)
	}
	if r := get(t, s, "/console/../console.go", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("path outside the assets: %d", r.StatusCode)
	}
}
