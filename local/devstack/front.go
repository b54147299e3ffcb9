package devstack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Invoker runs one Lambda invocation (runtimeapi.Pool implements it).
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// Route maps an HttpApi event of the template to a function.
type Route struct {
	Method   string // upper case, or ANY
	Path     string // /a/{id}/b, /a/{proxy+}, or $default
	Function string // logical id
	Invoker  Invoker
}

// RouteKey is API Gateway's route key ("GET /a/{id}" or "$default").
func (r Route) RouteKey() string {
	if r.Path == "$default" {
		return "$default"
	}
	return r.Method + " " + r.Path
}

// match reports whether the route matches the escaped path and returns the (unescaped) path
// parameters; an escaped slash stays inside its segment.
func (r Route) match(method, path string) (map[string]string, bool) {
	if r.Method != "ANY" && r.Method != method {
		return nil, false
	}
	if r.Path == "$default" {
		return nil, true
	}
	pat := strings.Split(strings.Trim(r.Path, "/"), "/")
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, false
		}
		segs[i] = u
	}
	params := map[string]string{}
	for i, p := range pat {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "+}") {
			if i >= len(segs) {
				return nil, false
			}
			params[strings.TrimSuffix(p[1:], "+}")] = strings.Join(segs[i:], "/")
			return params, true
		}
		if i >= len(segs) {
			return nil, false
		}
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
	if len(pat) != len(segs) {
		return nil, false
	}
	return params, true
}

// specificity orders routes like API Gateway: more literal segments first, greedy and
// $default last, exact method before ANY.
func (r Route) specificity() (int, int, int) {
	if r.Path == "$default" {
		return -1, 0, 0
	}
	literal, params := 0, 0
	for _, p := range strings.Split(strings.Trim(r.Path, "/"), "/") {
		switch {
		case strings.HasSuffix(p, "+}"):
			params -= 100
		case strings.HasPrefix(p, "{"):
			params++
		default:
			literal++
		}
	}
	method := 1
	if r.Method == "ANY" {
		method = 0
	}
	return literal, params, method
}

// MaxRequestBytes is API Gateway's HTTP API payload limit.
const MaxRequestBytes = 10 << 20

// Front is the local HTTP API: it turns requests into API Gateway v2 (payload 2.0) events,
// invokes the route's function and turns its response back into HTTP.
type Front struct {
	routes []Route
	log    *slog.Logger
	// Local answers /_local/... paths (schedule triggers, the connect landing page).
	Local http.Handler
}

// NewFront sorts routes by API Gateway's precedence.
func NewFront(routes []Route, log *slog.Logger) *Front {
	rs := append([]Route(nil), routes...)
	sort.SliceStable(rs, func(i, j int) bool {
		li, pi, mi := rs[i].specificity()
		lj, pj, mj := rs[j].specificity()
		if li != lj {
			return li > lj
		}
		if pi != pj {
			return pi > pj
		}
		return mi > mj
	})
	return &Front{routes: rs, log: log}
}

// Routes returns the routes in matching order.
func (f *Front) Routes() []Route { return f.routes }

func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_local/") && f.Local != nil {
		f.Local.ServeHTTP(w, r)
		return
	}
	var (
		route  Route
		params map[string]string
		found  bool
	)
	for _, rt := range f.routes {
		if p, ok := rt.match(r.Method, r.URL.EscapedPath()); ok {
			route, params, found = rt, p, true
			break
		}
	}
	if !found {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Bad Request"})
		return
	}
	if len(body) > MaxRequestBytes {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"message": "Request Entity Too Large"})
		return
	}
	ev := NewHTTPEvent(r, route, params, body, time.Now())
	payload, err := json.Marshal(ev)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "Internal Server Error"})
		return
	}
	began := time.Now()
	out, err := route.Invoker.Invoke(r.Context(), payload)
	if err != nil {
		f.log.Error("invocation failed", "function", route.Function, "route", route.RouteKey(), "error", err.Error())
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "Internal Server Error"})
		return
	}
	resp, err := ParseHTTPResponse(out)
	if err != nil {
		f.log.Error("bad function response", "function", route.Function, "error", err.Error())
		writeJSON(w, http.StatusBadGateway, map[string]string{"message": "Internal Server Error"})
		return
	}
	f.log.Info("http", "method", r.Method, "path", r.URL.Path, "function", route.Function, "status", resp.StatusCode, "ms", time.Since(began).Milliseconds())
	WriteHTTPResponse(w, resp)
}

// NewHTTPEvent builds the API Gateway v2 HTTP event (payload format 2.0) for a request.
func NewHTTPEvent(r *http.Request, route Route, params map[string]string, body []byte, now time.Time) events.APIGatewayV2HTTPRequest {
	headers := map[string]string{}
	var cookies []string
	for name, vals := range r.Header {
		lname := strings.ToLower(name)
		if lname == "cookie" {
			for _, v := range vals {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[lname] = strings.Join(vals, ",")
	}
	if r.Host != "" {
		headers["host"] = r.Host
	}
	if r.ContentLength > 0 {
		headers["content-length"] = strconv.FormatInt(r.ContentLength, 10)
	}
	var query map[string]string
	if q := r.URL.Query(); len(q) > 0 {
		query = map[string]string{}
		for k, v := range q {
			query[k] = strings.Join(v, ",")
		}
	}
	if len(params) == 0 {
		params = nil
	}
	sourceIP := r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		sourceIP = host
	}
	domain := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		domain = h
	}
	prefix := domain
	if i := strings.IndexByte(domain, '.'); i > 0 {
		prefix = domain[:i]
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              route.RouteKey(),
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		StageVariables:        nil,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     route.RouteKey(),
			AccountID:    "000000000000",
			Stage:        "$default",
			RequestID:    fmt.Sprintf("local-%d", now.UnixNano()),
			APIID:        "local",
			DomainName:   domain,
			DomainPrefix: prefix,
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// ParseHTTPResponse reads a payload 2.0 function result. Like API Gateway, a result without
// statusCode is itself the JSON body of a 200.
func ParseHTTPResponse(out []byte) (events.APIGatewayV2HTTPResponse, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(out, &probe); err == nil {
		if _, ok := probe["statusCode"]; ok {
			var resp events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				return resp, fmt.Errorf("decode response: %w", err)
			}
			return resp, nil
		}
	} else if !json.Valid(out) {
		return events.APIGatewayV2HTTPResponse{}, errors.New("function result is not JSON")
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"content-type": "application/json"},
		Body:       string(out),
	}, nil
}

// WriteHTTPResponse writes a payload 2.0 response.
func WriteHTTPResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) {
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if b, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
			body = b
		}
	}
	if h.Get("Content-Type") == "" && len(body) > 0 {
		h.Set("Content-Type", "application/json")
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
