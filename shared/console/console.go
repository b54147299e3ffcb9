// Package console serves the agent console: a few static files (HTML, one script, one style
// sheet, an icon) embedded in the function's binary, with a strict Content-Security-Policy.
// The files need no build step; the console talks to /api/* with a session cookie.
package console

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

//go:embed static
var static embed.FS

// CSP is the console's Content-Security-Policy: only its own script and styles, no inline
// code, API calls to its own origin, media from https (customers' attachments).
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https:; " +
	"media-src https:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// AssetPrefix is the path under which the static files are served.
const AssetPrefix = "/console/"

type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Server answers GET / and GET /console/<file>.
type Server struct {
	index  []byte
	assets map[string]asset
}

var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
}

// New loads the embedded files. The page refers to each asset with a version (a hash of its
// content), so assets are cached for good and a new deploy is picked up by the next page load.
func New() (*Server, error) {
	s := &Server{assets: map[string]asset{}}
	entries, err := fs.ReadDir(static, "static")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	for _, e := range entries {
		b, err := static.ReadFile("static/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
		if e.Name() == "index.html" {
			s.index = b
			continue
		}
		ct, ok := contentTypes[path.Ext(e.Name())]
		if !ok {
			continue
		}
		sum := sha256.Sum256(b)
		s.assets[e.Name()] = asset{body: b, contentType: ct, etag: base64.RawURLEncoding.EncodeToString(sum[:9])}
	}
	if s.index == nil {
		return nil, fmt.Errorf("console: static/index.html is missing")
	}
	page := string(s.index)
	for name, a := range s.assets {
		page = strings.ReplaceAll(page, AssetPrefix+name+`"`, AssetPrefix+name+"?v="+a.etag+`"`)
	}
	s.index = []byte(page)
	return s, nil
}

// Size returns the total size in bytes of the script and style files.
func (s *Server) Size() int {
	n := 0
	for name, a := range s.assets {
		if strings.HasSuffix(name, ".js") || strings.HasSuffix(name, ".css") {
			n += len(a.body)
		}
	}
	return n
}

func headers(contentType, cacheControl string) map[string]string {
	return map[string]string{
		"Content-Type":            contentType,
		"Cache-Control":           cacheControl,
		"Content-Security-Policy": CSP,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	}
}

// Handle serves one API Gateway v2 request.
func (s *Server) Handle(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	p := ev.RawPath
	if p == "" {
		p = ev.RequestContext.HTTP.Path
	}
	method := ev.RequestContext.HTTP.Method
	if method != http.MethodGet && method != http.MethodHead {
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusMethodNotAllowed, Headers: map[string]string{"Allow": "GET, HEAD"}}, nil
	}
	if p == "/" {
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Headers: headers("text/html; charset=utf-8", "no-cache"), Body: string(s.index)}, nil
	}
	name, ok := strings.CutPrefix(p, AssetPrefix)
	a, found := s.assets[name]
	if !ok || !found {
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNotFound, Headers: headers("text/plain; charset=utf-8", "no-cache"), Body: "not found\n"}, nil
	}
	cache := "no-cache"
	if ev.QueryStringParameters["v"] == a.etag {
		cache = "public, max-age=31536000, immutable"
	}
	h := headers(a.contentType, cache)
	h["ETag"] = `"` + a.etag + `"`
	if inm := ev.Headers["if-none-match"]; inm == h["ETag"] {
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNotModified, Headers: h}, nil
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Headers: h, Body: string(a.body)}, nil
}
