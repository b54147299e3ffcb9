package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

const (
	oauthCode  = "AQBx-secret-oauth-code"
	oauthState = "signed-state-value"
)

func TestRedactError(t *testing.T) {
	t.Parallel()
	callback := "http://127.0.0.1:3000/instagram/callback?code=" + oauthCode + "&state=" + oauthState
	tests := []struct {
		name string
		err  error
		want string
	}{
		{
			name: "url error at the callback hop",
			err:  &url.Error{Op: "Get", URL: callback, Err: errors.New("EOF")},
			want: "Get http://127.0.0.1:3000/instagram/callback?(redacted): EOF",
		},
		{
			name: "bad Location header quoted in the cause",
			err: &url.Error{Op: "Get", URL: "http://sim/oauth/authorize?client_id=1",
				Err: fmt.Errorf("failed to parse Location header %q: %v", callback+"%zz", errors.New("invalid URL escape"))},
			want: `Get http://sim/oauth/authorize?(redacted): failed to parse Location header "http://127.0.0.1:3000/instagram/callback?(redacted)": invalid URL escape`,
		},
		{
			name: "user info and fragment",
			err:  &url.Error{Op: "Post", URL: "http://user:pw@host/a#frag", Err: errors.New("refused")},
			want: "Post http://host/a: refused",
		},
		{
			name: "no query",
			err:  &url.Error{Op: "Post", URL: "http://127.0.0.1:3000/api/channels/connect", Err: errors.New("connection refused")},
			want: "Post http://127.0.0.1:3000/api/channels/connect: connection refused",
		},
		{
			name: "wrapped url error",
			err:  fmt.Errorf("connect: %w", &url.Error{Op: "Get", URL: callback, Err: errors.New("timeout")}),
			want: "Get http://127.0.0.1:3000/instagram/callback?(redacted): timeout",
		},
		{
			name: "plain error with a url inside",
			err:  errors.New("following " + callback + " failed"),
			want: "following http://127.0.0.1:3000/instagram/callback?(redacted) failed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := redactError(tt.err)
			if got != tt.want {
				t.Errorf("redactError = %q, want %q", got, tt.want)
			}
			for _, secret := range []string{oauthCode, oauthState, "pw@"} {
				if strings.Contains(got, secret) {
					t.Errorf("redactError = %q contains %q", got, secret)
				}
			}
		})
	}
}

// TestConnectChannelLogsNoOAuthCode follows a connect flow whose callback hop fails (the
// connection is dropped) and checks the warning names the failure without the code or state;
// the API token comes from the stack's getenv when the parameter is empty.
func TestConnectChannelLogsNoOAuthCode(t *testing.T) {
	t.Parallel()
	const token = "token-from-getenv"
	var authorized atomic.Bool
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	mux.HandleFunc("POST /api/channels/connect", func(w http.ResponseWriter, r *http.Request) {
		authorized.Store(r.Header.Get("Authorization") == "Bearer "+token)
		writeJSON(w, http.StatusOK, map[string]string{"url": srv.URL + "/oauth/authorize?client_id=dev-app-id&state=" + oauthState})
	})
	mux.HandleFunc("GET /oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, srv.URL+"/instagram/callback?code="+oauthCode+"&state="+oauthState, http.StatusFound)
	})
	mux.HandleFunc("GET /instagram/callback", func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		_ = conn.Close() // the client sees EOF: a *url.Error with the callback URL
	})

	var logs bytes.Buffer
	getenv := func(k string) string {
		if k == "API_TOKEN" {
			return token
		}
		return ""
	}
	connectChannel(context.Background(), srv.URL, map[string]ParamValue{}, getenv, newLogger(&logs))

	out := logs.String()
	if !authorized.Load() {
		t.Errorf("connect request did not carry the API_TOKEN from getenv")
	}
	if !strings.Contains(out, "following the authorize url failed") || !strings.Contains(out, "/instagram/callback?(redacted)") {
		t.Errorf("log lacks the redacted failure:\n%s", out)
	}
	for _, secret := range []string{oauthCode, oauthState, token} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
}
