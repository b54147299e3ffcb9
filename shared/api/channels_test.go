package api_test

import (
	"context"
	"encoding/json"
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
	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/oauth"
	"github.com/iginbox/iginbox/shared/store"
)

const (
	chanAPIToken  = "test-api-token-123"
	chanAppSecret = "test-app-secret-456"
	chanDomain    = "127.0.0.1:3000"
	chanFrontend  = "http://127.0.0.1:5173/"
)

// chanLogs is the shared goroutine-safe log sink.
type chanLogs = testenv.LogBuffer

type chanStack struct {
	api   *api.Server
	login *oauth.Service
	st    *store.Store
	sim   *metasim.Simulator
	logs  *chanLogs
}

// newChanStack wires the API and OAuth handlers exactly like functions/api and
// functions/oauth do, against DynamoDB Local and the Meta simulator.
func newChanStack(t *testing.T) *chanStack {
	t.Helper()
	db := testenv.DynamoDB(t)
	st := store.New(db, testenv.Table(t, db))
	sim := metasim.New(metasim.Config{AppSecret: chanAppSecret})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	logs := &chanLogs{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	gc := graph.New(graph.Config{BaseURL: srv.URL, AppID: "app-1", AppSecret: chanAppSecret})
	login, err := oauth.New(oauth.Config{AppID: "app-1", AppSecret: chanAppSecret, FrontendURL: chanFrontend}, gc, st, log)
	if err != nil {
		t.Fatal(err)
	}
	s := &chanStack{api: api.New(chanAPIToken, log, api.WithChannels(st, login)), login: login, st: st, sim: sim, logs: logs}
	t.Cleanup(func() {
		for _, secret := range []string{"IGSIM", chanAPIToken, chanAppSecret} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("logs leak %q:\n%s", secret, logs.String())
			}
		}
	})
	return s
}

func (s *chanStack) call(t *testing.T, method, path, auth, body string) (int, map[string]any, string) {
	t.Helper()
	ev := events.APIGatewayV2HTTPRequest{RawPath: path, Body: body, Headers: map[string]string{}}
	if auth != "" {
		ev.Headers["Authorization"] = auth
	}
	ev.RequestContext.HTTP.Method = method
	ev.RequestContext.DomainName = chanDomain
	resp, err := s.api.HandleRequest(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if resp.Body != "" {
		if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
			t.Fatalf("response is not JSON: %q", resp.Body)
		}
	}
	return resp.StatusCode, out, resp.Body
}

func TestChannelRoutesAuthAndErrors(t *testing.T) {
	t.Parallel()
	s := newChanStack(t)
	if _, err := s.st.ConnectChannel(context.Background(), domain.Channel{ID: "17841400000000042", Username: "shop", AccessToken: s.sim.IssueToken("17841400000000042"), TokenExpiresAt: time.Now().Add(50 * 24 * time.Hour)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	bearer := "Bearer " + chanAPIToken
	tests := []struct {
		name, method, path, auth, body string
		status                         int
		code                           string
	}{
		{"missing token", "GET", "/api/channels", "", "", 401, "unauthorized"},
		{"wrong token", "GET", "/api/channels", "Bearer nope", "", 401, "unauthorized"},
		{"wrong scheme", "GET", "/api/channels", "Basic " + chanAPIToken, "", 401, "unauthorized"},
		{"right token", "GET", "/api/channels", bearer, "", 200, ""},
		{"lower-case bearer", "GET", "/api/channels", "bearer " + chanAPIToken, "", 200, ""},
		{"unknown route", "GET", "/api/nothing", bearer, "", 404, "not_found"},
		{"unknown route without auth", "GET", "/api/nothing", "", "", 401, "unauthorized"},
		{"bad JSON", "PATCH", "/api/channels/17841400000000042", bearer, "{", 400, "invalid_json"},
		{"unknown field", "PATCH", "/api/channels/17841400000000042", bearer, `{"locked":true}`, 400, "invalid_json"},
		{"missing field", "PATCH", "/api/channels/17841400000000042", bearer, `{}`, 400, "invalid_request"},
		{"unknown channel", "PATCH", "/api/channels/999", bearer, `{"lock_to_single_conversation":true}`, 404, "channel_not_found"},
		{"lock", "PATCH", "/api/channels/17841400000000042", bearer, `{"lock_to_single_conversation":true}`, 200, ""},
		{"connect", "POST", "/api/channels/connect", bearer, "", 200, ""},
		{"connect without auth", "POST", "/api/channels/connect", "", "", 401, "unauthorized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, out, raw := s.call(t, tc.method, tc.path, tc.auth, tc.body)
			if status != tc.status {
				t.Fatalf("status = %d, want %d: %s", status, tc.status, raw)
			}
			if tc.code != "" {
				e, _ := out["error"].(map[string]any)
				if e == nil || e["code"] != tc.code || e["message"] == "" {
					t.Fatalf("error body = %s", raw)
				}
			}
			if strings.Contains(raw, "IGSIM") || strings.Contains(raw, "access_token") {
				t.Fatalf("response leaks a token: %s", raw)
			}
		})
	}
	_, out, _ := s.call(t, "GET", "/api/channels", bearer, "")
	chs := out["channels"].([]any)
	if len(chs) != 1 || chs[0].(map[string]any)["lock_to_single_conversation"] != true {
		t.Fatalf("channels = %v", chs)
	}
}

// TestConnectEndToEnd drives POST /api/channels/connect -> simulator authorize -> GET
// /instagram/callback -> GET /api/channels through the real handlers.
func TestConnectEndToEnd(t *testing.T) {
	t.Parallel()
	s := newChanStack(t)
	bearer := "Bearer " + chanAPIToken

	status, out, raw := s.call(t, "POST", "/api/channels/connect", bearer, "")
	if status != 200 {
		t.Fatalf("connect: %d %s", status, raw)
	}
	authURL, _ := url.Parse(out["url"].(string))
	if authURL.Query().Get("redirect_uri") != "http://"+chanDomain+"/instagram/callback" || authURL.Query().Get("force_reauth") != "true" {
		t.Fatalf("authorize URL = %s", authURL)
	}

	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(authURL.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || cb.Host != chanDomain || cb.Path != oauth.CallbackPath {
		t.Fatalf("authorize redirect: %d %s", resp.StatusCode, cb)
	}

	ev := events.APIGatewayV2HTTPRequest{RawPath: cb.Path, RawQueryString: cb.RawQuery}
	ev.RequestContext.DomainName = chanDomain
	ev.RequestContext.HTTP.Method = http.MethodGet
	cbResp, err := s.login.HandleCallback(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	final, _ := url.Parse(cbResp.Headers["Location"])
	if cbResp.StatusCode != http.StatusFound || final.Query().Get("connected") != metasim.DefaultAccountID || !strings.HasPrefix(final.String(), chanFrontend) {
		t.Fatalf("callback: %d %s", cbResp.StatusCode, final)
	}

	_, out, raw = s.call(t, "GET", "/api/channels", bearer, "")
	if strings.Contains(raw, "IGSIM") || strings.Contains(raw, "access_token") {
		t.Fatalf("GET /api/channels leaks a token: %s", raw)
	}
	chs := out["channels"].([]any)
	if len(chs) != 1 {
		t.Fatalf("channels = %s", raw)
	}
	ch := chs[0].(map[string]any)
	exp, err := time.Parse(time.RFC3339, ch["token_expires_at"].(string))
	if err != nil || exp.Sub(time.Now()) < 59*24*time.Hour || exp.Sub(time.Now()) > 61*24*time.Hour {
		t.Errorf("token_expires_at = %v, want about 60 days ahead", ch["token_expires_at"])
	}
	for k, want := range map[string]any{"id": metasim.DefaultAccountID, "username": "iginbox_dev", "reauth_required": false, "lock_to_single_conversation": false, "subscribed": true} {
		if ch[k] != want {
			t.Errorf("%s = %v, want %v", k, ch[k], want)
		}
	}
	if _, err := time.Parse(time.RFC3339, ch["connected_at"].(string)); err != nil {
		t.Errorf("connected_at = %v", ch["connected_at"])
	}
}
