// Package api serves the authenticated JSON HTTP API (/api/...) behind API Gateway's HTTP API
// (payload format 2.0). Route groups live in their own files and register themselves with
// Options; this file holds the router, authentication and the error contract:
// {"error":{"code":"<slug>","message":"<human text>"}}.
package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/identity"
)

// MaxBodyBytes bounds request bodies.
const MaxBodyBytes = 256 << 10

// Request is what a route handler sees.
type Request struct {
	Method  string
	Path    string
	Params  map[string]string // path parameters named in the route pattern, e.g. {id}
	Query   map[string]string
	Headers map[string]string // lower-case names
	Body    []byte
	// DomainName is the API's domain as the client called it (requestContext.domainName, else
	// the Host header), e.g. to derive absolute URLs such as the OAuth redirect URI.
	DomainName string
	// Cookies are the request's cookies by name.
	Cookies map[string]string
	// Principal is who the request runs as (zero on public routes).
	Principal identity.Principal
	// HTTPS reports whether the client called over https (cookies are then Secure).
	HTTPS bool
}

// Header returns a request header (case-insensitive).
func (r *Request) Header(name string) string { return r.Headers[strings.ToLower(name)] }

// DecodeJSON decodes the body into v, refusing unknown fields and trailing data.
func (r *Request) DecodeJSON(v any) error {
	if len(r.Body) == 0 {
		return Errorf(http.StatusBadRequest, "invalid_json", "request body is empty")
	}
	dec := json.NewDecoder(strings.NewReader(string(r.Body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(http.StatusBadRequest, "invalid_json", "request body is not valid JSON for this route: %v", err)
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, "invalid_json", "request body has trailing data")
	}
	return nil
}

// Response is what a route handler returns: a status and a JSON body (nil for none), with
// optional cookies to set.
type Response struct {
	Status  int
	Body    any
	Cookies []string
}

// HandlerFunc handles one route.
type HandlerFunc func(ctx context.Context, r *Request) (Response, error)

// Error is an API error with its HTTP status; handlers return it (or wrap it) for expected
// failures. Anything else becomes a 500 "internal" without its text.
type Error struct {
	Status  int
	Code    string
	Message string
	// Allow lists the methods of the path, for a 405 (sent as the Allow header).
	Allow string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

type route struct {
	method   string
	segments []string // pattern split on "/", "{name}" segments capture
	handler  HandlerFunc
	public   bool // no authentication (the handler authenticates itself)
}

// Server routes API requests. Build it with New.
type Server struct {
	bootstrapHash string // identity.HashKey of API_TOKEN
	ids           *identities
	routes        []route
	log           *slog.Logger
}

// Option registers a group of routes (and its dependencies) on the server.
type Option func(*Server)

// New returns a server that authenticates every request with the bearer token apiToken.
func New(apiToken string, log *slog.Logger, opts ...Option) *Server {
	s := &Server{bootstrapHash: identity.HashKey(apiToken), log: log}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Handle registers a route. Pattern segments written {name} capture a path parameter.
func (s *Server) Handle(method, pattern string, h HandlerFunc) {
	s.routes = append(s.routes, route{method: method, segments: split(pattern), handler: h})
}

// HandlePublic registers a route that is served without authentication.
func (s *Server) HandlePublic(method, pattern string, h HandlerFunc) {
	s.routes = append(s.routes, route{method: method, segments: split(pattern), handler: h, public: true})
}

func split(p string) []string { return strings.Split(strings.Trim(p, "/"), "/") }

// params matches the path segments against the route's pattern and returns its parameters.
func (rt route) params(segs []string) (map[string]string, bool) {
	if len(rt.segments) != len(segs) {
		return nil, false
	}
	params := map[string]string{}
	for i, p := range rt.segments {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if segs[i] == "" {
				return nil, false
			}
			params[p[1:len(p)-1]] = segs[i]
			continue
		}
		if p != segs[i] {
			return nil, false
		}
	}
	return params, true
}

// allowed lists the methods routed for path, sorted.
func (s *Server) allowed(path string) []string {
	segs := split(path)
	var out []string
	for _, rt := range s.routes {
		if _, ok := rt.params(segs); ok && !slices.Contains(out, rt.method) {
			out = append(out, rt.method)
		}
	}
	sort.Strings(out)
	return out
}

func (s *Server) match(method, path string) (*route, map[string]string, bool) {
	segs := split(path)
	pathFound := false
	for _, rt := range s.routes {
		params, ok := rt.params(segs)
		if !ok {
			continue
		}
		pathFound = true
		if rt.method == method {
			return &rt, params, true
		}
	}
	return nil, nil, pathFound
}

// HandleRequest serves one API Gateway v2 request; it never returns an error (failures are
// answered in the contract's JSON shape).
func (s *Server) HandleRequest(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	method := ev.RequestContext.HTTP.Method
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	headers := make(map[string]string, len(ev.Headers))
	for k, v := range ev.Headers {
		headers[strings.ToLower(k)] = v
	}
	resp, keyID, err := s.serve(ctx, method, path, headers, ev)
	status := resp.Status
	if err != nil {
		var ae *Error
		if !errors.As(err, &ae) {
			s.log.ErrorContext(ctx, "api request failed", "method", method, "path", path, "error", err.Error())
			ae = Errorf(http.StatusInternalServerError, "internal", "internal error")
		}
		status = ae.Status
		resp = Response{Status: ae.Status, Body: map[string]any{"error": map[string]string{"code": ae.Code, "message": ae.Message}}}
		out := encode(resp)
		if ae.Allow != "" {
			out.Headers["Allow"] = ae.Allow
		}
		s.log.InfoContext(ctx, "api request", "method", method, "path", path, "status", status)
		return out, nil
	}
	if err == nil && method == http.MethodGet && status == http.StatusOK {
		return s.encodeConditional(ctx, resp, headers["if-none-match"], method, path, keyID), nil
	}
	s.log.InfoContext(ctx, "api request", "method", method, "path", path, "status", status, "key_id", keyID)
	return encode(resp), nil
}

// encodeConditional encodes a GET answer with an ETag (a hash of the body) and answers 304
// without a body when the client already holds it: the console polls lists and messages this
// way, and an unchanged answer costs a few bytes.
func (s *Server) encodeConditional(ctx context.Context, resp Response, ifNoneMatch, method, path, keyID string) events.APIGatewayV2HTTPResponse {
	out := encode(resp)
	sum := sha256.Sum256([]byte(out.Body))
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	out.Headers["ETag"] = etag
	status := out.StatusCode
	if ifNoneMatch != "" && etagMatches(ifNoneMatch, etag) {
		out.StatusCode, out.Body = http.StatusNotModified, ""
		delete(out.Headers, "Content-Type")
		status = http.StatusNotModified
	}
	s.log.InfoContext(ctx, "api request", "method", method, "path", path, "status", status, "key_id", keyID)
	return out
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

func (s *Server) serve(ctx context.Context, method, path string, headers map[string]string, ev events.APIGatewayV2HTTPRequest) (Response, string, error) {
	rt, params, pathFound := s.match(method, path)
	cookies := parseCookies(ev.Cookies, headers["cookie"])
	domain := ev.RequestContext.DomainName
	if domain == "" {
		domain = headers["host"]
	}
	https := requestScheme(headers, domain) == "https"
	var p identity.Principal
	if rt == nil || !rt.public {
		var err error
		p, err = s.authenticate(ctx, headers["authorization"], cookies)
		if err != nil {
			return Response{}, "", err
		}
		// A browser session is ambient authority: a write must come from our own origin.
		if p.SessionID != "" && method != http.MethodGet && method != http.MethodHead && !sameOrigin(headers, domain) {
			return Response{}, p.KeyID, Errorf(http.StatusForbidden, "origin_mismatch", "cookie-authenticated writes must come from this site")
		}
	}
	if rt == nil {
		if pathFound {
			e := Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on %s", method, path)
			e.Allow = strings.Join(s.allowed(path), ", ")
			return Response{}, p.KeyID, e
		}
		return Response{}, p.KeyID, Errorf(http.StatusNotFound, "not_found", "no route for %s %s", method, path)
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return Response{}, p.KeyID, Errorf(http.StatusBadRequest, "invalid_body", "body is not valid base64")
		}
		body = b
	}
	if len(body) > MaxBodyBytes {
		return Response{}, p.KeyID, Errorf(http.StatusRequestEntityTooLarge, "body_too_large", "request body exceeds %d bytes", MaxBodyBytes)
	}
	query := map[string]string{}
	for k, v := range ev.QueryStringParameters {
		query[k] = v
	}
	resp, err := rt.handler(ctx, &Request{Method: method, Path: path, Params: params, Query: query, Headers: headers, Body: body,
		DomainName: domain, Cookies: cookies, Principal: p, HTTPS: https})
	return resp, p.KeyID, err
}

func encode(r Response) events.APIGatewayV2HTTPResponse {
	out := events.APIGatewayV2HTTPResponse{
		StatusCode: r.Status,
		Headers:    map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"},
		Cookies:    r.Cookies,
	}
	if r.Body != nil {
		b, err := json.Marshal(r.Body)
		if err != nil {
			out.StatusCode = http.StatusInternalServerError
			b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
		}
		out.Body = string(b)
	}
	return out
}
