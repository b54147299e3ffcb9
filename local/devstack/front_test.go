package devstack

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// recorder is a fake Invoker that records payloads and answers a canned result.
type recorder struct {
	mu       sync.Mutex
	payloads [][]byte
	answer   []byte
	err      error
}

func (r *recorder) Invoke(_ context.Context, payload []byte) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.payloads = append(r.payloads, payload)
	return r.answer, r.err
}

func (r *recorder) last(t *testing.T) events.APIGatewayV2HTTPRequest {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.payloads) == 0 {
		t.Fatal("function not invoked")
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(r.payloads[len(r.payloads)-1], &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestFrontEventMapping(t *testing.T) {
	t.Parallel()
	fn := &recorder{answer: []byte(`{"statusCode":201,"headers":{"x-a":"1"},"cookies":["s=1; Path=/"],"body":"aGk=","isBase64Encoded":true}`)}
	other := &recorder{answer: []byte(`{"statusCode":200}`)}
	front := NewFront([]Route{
		{Method: "GET", Path: "/api/conversations/{id}/messages", Function: "Api", Invoker: fn},
		{Method: "POST", Path: "/api/conversations/{id}/messages", Function: "Api", Invoker: fn},
		{Method: "GET", Path: "/api/conversations/latest/messages", Function: "Other", Invoker: other},
		{Method: "ANY", Path: "/files/{proxy+}", Function: "Api", Invoker: fn},
	}, discardLog())
	srv := httptest.NewServer(front)
	defer srv.Close()

	tests := []struct {
		name       string
		method     string
		path       string
		body       []byte
		header     http.Header
		wantStatus int
		wantRoute  string
		wantParams map[string]string
		check      func(t *testing.T, ev events.APIGatewayV2HTTPRequest)
		invoker    *recorder
	}{
		{
			name: "path params, query, headers, cookies", method: "GET",
			path:       "/api/conversations/c%2F1/messages?limit=5&tag=a&tag=b",
			header:     http.Header{"X-Custom": {"v1"}, "Cookie": {"a=1; b=2"}, "Authorization": {"Bearer t"}},
			wantStatus: 201, wantRoute: "GET /api/conversations/{id}/messages", wantParams: map[string]string{"id": "c/1"},
			invoker: fn,
			check: func(t *testing.T, ev events.APIGatewayV2HTTPRequest) {
				if ev.Version != "2.0" || ev.RawQueryString != "limit=5&tag=a&tag=b" || ev.RawPath != "/api/conversations/c%2F1/messages" {
					t.Errorf("version/raw = %s %q %q", ev.Version, ev.RawQueryString, ev.RawPath)
				}
				if want := map[string]string{"limit": "5", "tag": "a,b"}; !reflect.DeepEqual(ev.QueryStringParameters, want) {
					t.Errorf("query = %v", ev.QueryStringParameters)
				}
				if ev.Headers["x-custom"] != "v1" || ev.Headers["authorization"] != "Bearer t" || ev.Headers["cookie"] != "" {
					t.Errorf("headers = %v", ev.Headers)
				}
				if !reflect.DeepEqual(ev.Cookies, []string{"a=1", "b=2"}) {
					t.Errorf("cookies = %v", ev.Cookies)
				}
				rc := ev.RequestContext
				if rc.HTTP.Method != "GET" || rc.HTTP.SourceIP != "127.0.0.1" || rc.DomainName != "127.0.0.1" || rc.Stage != "$default" || rc.TimeEpoch == 0 {
					t.Errorf("request context = %+v", rc)
				}
				if ev.Body != "" || ev.IsBase64Encoded {
					t.Errorf("body = %q", ev.Body)
				}
			},
		},
		{
			name: "literal segment wins over parameter", method: "GET", path: "/api/conversations/latest/messages",
			wantStatus: 200, wantRoute: "GET /api/conversations/latest/messages", invoker: other,
		},
		{
			name: "utf-8 body is text", method: "POST", path: "/api/conversations/9/messages", body: []byte(`{"text":"héllo"}`),
			wantStatus: 201, wantRoute: "POST /api/conversations/{id}/messages", wantParams: map[string]string{"id": "9"}, invoker: fn,
			check: func(t *testing.T, ev events.APIGatewayV2HTTPRequest) {
				if ev.Body != `{"text":"héllo"}` || ev.IsBase64Encoded {
					t.Errorf("body = %q base64=%v", ev.Body, ev.IsBase64Encoded)
				}
			},
		},
		{
			name: "binary body is base64", method: "POST", path: "/api/conversations/9/messages", body: []byte{0xff, 0x00, 0xfe},
			wantStatus: 201, wantRoute: "POST /api/conversations/{id}/messages", wantParams: map[string]string{"id": "9"}, invoker: fn,
			check: func(t *testing.T, ev events.APIGatewayV2HTTPRequest) {
				if ev.Body != base64.StdEncoding.EncodeToString([]byte{0xff, 0x00, 0xfe}) || !ev.IsBase64Encoded {
					t.Errorf("body = %q base64=%v", ev.Body, ev.IsBase64Encoded)
				}
			},
		},
		{
			name: "greedy any", method: "DELETE", path: "/files/a/b/c",
			wantStatus: 201, wantRoute: "ANY /files/{proxy+}", wantParams: map[string]string{"proxy": "a/b/c"}, invoker: fn,
		},
		{name: "unknown path", method: "GET", path: "/nope", wantStatus: 404},
		{name: "wrong method", method: "DELETE", path: "/api/conversations/1/messages", wantStatus: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tc.wantStatus, body)
			}
			if tc.wantStatus == 404 {
				if !json.Valid(body) || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
					t.Errorf("404 body %q is not JSON", body)
				}
				return
			}
			ev := tc.invoker.last(t)
			if ev.RouteKey != tc.wantRoute || ev.RequestContext.RouteKey != tc.wantRoute {
				t.Errorf("route key = %q, want %q", ev.RouteKey, tc.wantRoute)
			}
			if !reflect.DeepEqual(ev.PathParameters, tc.wantParams) {
				t.Errorf("path parameters = %v, want %v", ev.PathParameters, tc.wantParams)
			}
			if tc.check != nil {
				tc.check(t, ev)
			}
			if tc.invoker == fn {
				if string(body) != "hi" || resp.Header.Get("X-A") != "1" || resp.Header.Get("Set-Cookie") != "s=1; Path=/" {
					t.Errorf("response = %q headers %v", body, resp.Header)
				}
			}
		})
	}
}

func TestParseHTTPResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		out        string
		wantStatus int
		wantBody   string
		wantErr    bool
	}{
		{name: "full response", out: `{"statusCode":403,"body":"no"}`, wantStatus: 403, wantBody: "no"},
		{name: "bare object is a JSON 200", out: `{"ok":true}`, wantStatus: 200, wantBody: `{"ok":true}`},
		{name: "bare string is a JSON 200", out: `"hello"`, wantStatus: 200, wantBody: `"hello"`},
		{name: "not JSON", out: `nope`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := ParseHTTPResponse([]byte(tc.out))
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil || resp.StatusCode != tc.wantStatus || resp.Body != tc.wantBody {
				t.Errorf("got %+v, %v", resp, err)
			}
		})
	}
}

func TestFrontFunctionError(t *testing.T) {
	t.Parallel()
	front := NewFront([]Route{{Method: "GET", Path: "/x", Function: "F", Invoker: &recorder{err: errors.New("boom secret-ish detail")}}}, discardLog())
	rec := httptest.NewRecorder()
	front.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("got %d %q, want 500 without the error text", rec.Code, rec.Body.String())
	}
}

func TestUpperSnake(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"InstagramAppSecret": "INSTAGRAM_APP_SECRET", "GraphApiUrl": "GRAPH_API_URL", "ApiToken": "API_TOKEN",
		"Stage": "STAGE", "DLQArn": "DLQ_ARN", "OAuthRedirectUri": "O_AUTH_REDIRECT_URI", "Log2Days": "LOG2_DAYS",
	} {
		if got := UpperSnake(in); got != want {
			t.Errorf("UpperSnake(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr    string
		want    string
		wantErr bool
	}{
		{expr: "rate(1 hour)", want: "1h0m0s"},
		{expr: "rate(5 minutes)", want: "5m0s"},
		{expr: "rate(2 days)", want: "48h0m0s"},
		{expr: "cron(0 3 * * ? *)", want: "6h0m0s"},
		{expr: "rate(0 hours)", wantErr: true},
		{expr: "rate(1 fortnight)", wantErr: true},
		{expr: "every day", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			t.Parallel()
			d, err := ParseSchedule(tc.expr)
			if tc.wantErr {
				if err == nil {
					t.Errorf("got %v, want error", d)
				}
				return
			}
			if err != nil || d.String() != tc.want {
				t.Errorf("got %v, %v; want %s", d, err, tc.want)
			}
		})
	}
}
