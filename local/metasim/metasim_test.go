package metasim_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/iginbox/iginbox/local/metasim"
)

func do(t *testing.T, srv *httptest.Server, method, path string, body string, header map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func graphError(t *testing.T, body map[string]any) (code, subcode float64) {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	if !ok {
		t.Fatalf("not a Graph error body: %v", body)
	}
	for _, k := range []string{"message", "type", "code", "fbtrace_id"} {
		if _, ok := e[k]; !ok {
			t.Errorf("error body lacks %q: %v", k, e)
		}
	}
	sub, _ := e["error_subcode"].(float64)
	return e["code"].(float64), sub
}

func TestFaultControls(t *testing.T) {
	t.Parallel()
	sim := metasim.New(metasim.Config{})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	tok := url.QueryEscape(sim.IssueToken("42"))

	status, body := do(t, srv, "GET", "/v23.0/me?access_token="+tok, "", map[string]string{"X-Sim-Fail": "190/460"})
	if code, sub := graphError(t, body); status != 400 || code != 190 || sub != 460 {
		t.Errorf("X-Sim-Fail: %d %v", status, body)
	}
	status, _ = do(t, srv, "POST", "/_sim/faults", `{"path":"/v23.0/me","code":500,"times":2}`, nil)
	if status != 200 {
		t.Fatalf("add fault: %d", status)
	}
	for i := range 2 {
		status, body = do(t, srv, "GET", "/v23.0/me?access_token="+tok, "", nil)
		if code, _ := graphError(t, body); status != 500 || code != 2 {
			t.Errorf("fault %d: %d %v", i, status, body)
		}
	}
	if status, body = do(t, srv, "GET", "/v23.0/me?access_token="+tok, "", nil); status != 200 || body["user_id"] != "42" {
		t.Errorf("after faults: %d %v", status, body)
	}
	if status, body = do(t, srv, "GET", "/v23.0/me?access_token=garbage", "", nil); status != 400 {
		t.Errorf("bad token: %d %v", status, body)
	} else if code, _ := graphError(t, body); code != 190 {
		t.Errorf("bad token code %v", code)
	}
	do(t, srv, "POST", "/_sim/profiles", `{"igsid":"555","code":230}`, nil)
	if status, body = do(t, srv, "GET", "/v23.0/555?access_token="+tok, "", nil); status != 400 {
		t.Errorf("profile rule: %d", status)
	} else if code, _ := graphError(t, body); code != 230 {
		t.Errorf("profile rule code %v", code)
	}
	status, body = do(t, srv, "GET", "/_sim/state", "", nil)
	if status != 200 || body["account_id"] != metasim.DefaultAccountID {
		t.Errorf("state: %d %v", status, body)
	}
}

func TestAuthorizeAndCodeExchange(t *testing.T) {
	t.Parallel()
	sim := metasim.New(metasim.Config{AppSecret: "s3cret-app"})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authorize := func(extra string) *url.URL {
		resp, err := client.Get(srv.URL + "/oauth/authorize?client_id=a&response_type=code&state=st&redirect_uri=" + url.QueryEscape("http://h/cb") + extra)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode != http.StatusFound {
			t.Fatalf("authorize: %d %v", resp.StatusCode, err)
		}
		return loc
	}
	denied := authorize("&sim_deny=1").Query()
	if denied.Get("error") != "access_denied" || denied.Get("error_reason") != "user_denied" || denied.Get("code") != "" || denied.Get("state") != "st" {
		t.Errorf("deny: %v", denied)
	}
	code := authorize("").Query().Get("code")
	exchange := func(secret, redirect string) (int, map[string]any) {
		form := url.Values{"client_id": {"a"}, "client_secret": {secret}, "grant_type": {"authorization_code"}, "redirect_uri": {redirect}, "code": {code}}
		resp, err := http.PostForm(srv.URL+"/oauth/access_token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	tests := []struct {
		name, secret, redirect string
		status                 int
	}{
		{"wrong secret", "nope", "http://h/cb", 400},
		{"right", "s3cret-app", "http://h/cb", 200},
		{"replayed code", "s3cret-app", "http://h/cb", 400},
	}
	for _, tc := range tests {
		status, body := exchange(tc.secret, tc.redirect)
		if status != tc.status {
			t.Errorf("%s: status %d %v", tc.name, status, body)
		}
		if status == 400 && (body["error_type"] == nil || body["error_message"] == nil || body["code"] != float64(400)) {
			t.Errorf("%s: not an OAuth error body: %v", tc.name, body)
		}
	}
}
