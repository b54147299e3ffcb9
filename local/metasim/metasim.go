// Package metasim simulates the parts of Meta's Instagram APIs iginbox calls, for local use
// (cmd/simulator, `make dev`) and for tests (it is an http.Handler: wrap it in httptest).
//
// It serves, with Meta's documented shapes and error bodies:
//
//	GET  /oauth/authorize            redirects back to redirect_uri with code & state
//	                                 (?sim_deny=1 or POST /_sim/authorize {"deny":true}: the cancel redirect;
//	                                 ?sim_account=<id> authorizes another account)
//	POST /oauth/access_token         code -> short-lived token + user_id
//	GET  /access_token               ig_exchange_token -> long-lived token (expires_in 5184000)
//	GET  /refresh_access_token       ig_refresh_token -> new long-lived token
//	GET  /<ver>/me                   the account of the token
//	POST /<ver>/me/subscribed_apps   {"success":true}
//	DELETE /<ver>/me/subscribed_apps {"success":true} (unsubscribes)
//	GET  /<ver>/<IGSID>              a profile for any IGSID (see ProfileError for failures)
//	POST /<ver>/me/messages          send API: {"recipient_id","message_id"}; after EchoDelay the
//	                                 signed echo webhook is POSTed to WebhookURL, as Meta does
//
// and control endpoints for tests and demos:
//
//	POST   /_sim/faults     {"path","method","code","subcode","status","type","message","times","account_id"}
//	DELETE /_sim/faults     clears every fault
//	POST   /_sim/profiles   {"igsid","code"}: that IGSID answers Meta's error <code>
//	POST   /_sim/authorize  {"deny":true|false}
//	POST   /_sim/revoke     {"account_id"}: every token of the account answers 190 from now on
//	GET    /_sim/state      counters, subscriptions, faults, accepted sends per recipient
//	POST   /_sim/message    {"igsid","text"[,"account_id"]}: posts an incoming message webhook
//	POST   /_sim/read       {"igsid","mid"[,"account_id"]}: posts a read (messaging_seen) webhook
//	POST   /_sim/deauthorize   {"account_id"}: posts Meta's signed deauthorize callback
//	POST   /_sim/data-deletion {"account_id"}: posts Meta's signed data-deletion request, relays the answer
//
// Send failures use the faults: {"path":"/v23.0/me/messages","code":190} (or 4/613, 10 with
// subcode 2534022, 551, 500..599 for a 5xx), and {"path":"/v23.0/me/messages",
// "timeout_after_accept":true,"delay_ms":15000} accepts the message (counted, echo posted) but
// answers only after delay_ms, beyond the client's timeout; "after_accept":true accepts it and
// then answers the fault ({"code":2}, {"status":504,"body":"Gateway Timeout"}, {"body":"{}"}).
// "body" answers a raw body with "status" (a bare {"status":429,"body":"Too Many Requests"}).
//
// A request header `X-Sim-Fail: <code>[/<subcode>]` makes that one request fail with the code.
//
// Tokens are self-describing ("IGSIM<kind>_<account id>_<random>"), so a restarted simulator
// still accepts the tokens stored by an earlier run.
package metasim

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultAccountID is the account authorized when nothing else is asked for.
const DefaultAccountID = "17841400000000001"

// LongLivedSeconds is the lifetime of long-lived tokens (60 days).
const LongLivedSeconds = 5184000

// Config configures a Simulator.
type Config struct {
	// AppSecret, when set, must match the client_secret of code and long-lived exchanges.
	AppSecret string
	// AccountID is the account authorized by default (DefaultAccountID when empty).
	AccountID string
	// Username of the default account ("iginbox_dev" when empty).
	Username string
	// WebhookURL is where echo (and /_sim/message, /_sim/read) webhooks are posted, signed
	// with AppSecret. Empty: none are posted.
	WebhookURL string
	// EchoDelay is how long after accepting a send its echo is posted (default 300 ms).
	EchoDelay time.Duration
	// WebhookClient posts the webhooks (default: a client with a 10 s timeout).
	WebhookClient *http.Client
	// Now returns the current time (time.Now when nil).
	Now func() time.Time
}

// Fault makes matching requests fail with a Meta error.
type Fault struct {
	Path    string `json:"path"`             // exact path, e.g. /refresh_access_token or /v23.0/me
	Method  string `json:"method,omitempty"` // empty = any
	Code    int    `json:"code"`
	Subcode int    `json:"subcode,omitempty"`
	Status  int    `json:"status,omitempty"` // HTTP status; default from the code
	Type    string `json:"type,omitempty"`
	Message string `json:"message,omitempty"`
	Times   int    `json:"times,omitempty"` // how many requests fail; 0 = until cleared
	// AccountID, when set, limits the fault to requests whose access token belongs to it.
	AccountID string `json:"account_id,omitempty"`
	// TimeoutAfterAccept (send API only): the message is accepted (counted, echo posted) but
	// the answer comes only after DelayMS (default 15000), beyond the client's timeout.
	TimeoutAfterAccept bool `json:"timeout_after_accept,omitempty"`
	DelayMS            int  `json:"delay_ms,omitempty"`
	// AfterAccept (send API only): the message is accepted (counted, echo posted), then the
	// fault's answer is given anyway, as when Meta answers 5xx or code 1/2 after accepting.
	AfterAccept bool `json:"after_accept,omitempty"`
	// Body, when set, is answered as it is (with Status, default 200) instead of Meta's error
	// JSON: a 2xx without message_id, a non-JSON body, a bare 429.
	Body string `json:"body,omitempty"`
}

type code struct {
	account, redirectURI string
	used                 bool
}

// Simulator is the fake Meta. Build it with New.
type Simulator struct {
	cfg Config
	mux *http.ServeMux

	mu            sync.Mutex
	codes         map[string]*code
	faults        []*Fault
	profileErrors map[string]int
	revoked       map[string]bool
	subscriptions map[string]string // account -> subscribed fields
	deny          bool
	counts        map[string]int // "<METHOD> <path pattern>" -> requests
	sent          map[string]int // recipient IGSID -> accepted sends
	sends         []SentMessage
	posting       int // webhooks being posted
}

// New returns a Simulator.
func New(cfg Config) *Simulator {
	if cfg.AccountID == "" {
		cfg.AccountID = DefaultAccountID
	}
	if cfg.Username == "" {
		cfg.Username = "iginbox_dev"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Simulator{
		cfg:           cfg,
		mux:           http.NewServeMux(),
		codes:         map[string]*code{},
		profileErrors: map[string]int{},
		revoked:       map[string]bool{},
		subscriptions: map[string]string{},
		counts:        map[string]int{},
		sent:          map[string]int{},
	}
	if s.cfg.EchoDelay <= 0 {
		s.cfg.EchoDelay = 300 * time.Millisecond
	}
	if s.cfg.WebhookClient == nil {
		s.cfg.WebhookClient = &http.Client{Timeout: 10 * time.Second}
	}
	s.mux.HandleFunc("GET /oauth/authorize", s.authorize)
	s.mux.HandleFunc("POST /oauth/access_token", s.accessToken)
	s.mux.HandleFunc("GET /access_token", s.exchange)
	s.mux.HandleFunc("GET /refresh_access_token", s.refresh)
	s.mux.HandleFunc("GET /{ver}/me", s.me)
	s.mux.HandleFunc("POST /{ver}/me/subscribed_apps", s.subscribe)
	s.mux.HandleFunc("DELETE /{ver}/me/subscribed_apps", s.unsubscribe)
	s.mux.HandleFunc("GET /{ver}/{igsid}", s.profile)
	s.mux.HandleFunc("POST /{ver}/me/messages", s.send)
	s.mux.HandleFunc("POST /_sim/message", s.simMessage)
	s.mux.HandleFunc("POST /_sim/read", s.simRead)
	s.mux.HandleFunc("POST /_sim/faults", s.addFault)
	s.mux.HandleFunc("DELETE /_sim/faults", s.clearFaults)
	s.mux.HandleFunc("POST /_sim/profiles", s.setProfileError)
	s.mux.HandleFunc("POST /_sim/authorize", s.setDeny)
	s.mux.HandleFunc("POST /_sim/revoke", s.revoke)
	s.mux.HandleFunc("POST /_sim/deauthorize", s.simDeauthorize)
	s.mux.HandleFunc("POST /_sim/data-deletion", s.simDataDeletion)
	s.mux.HandleFunc("GET /_sim/state", s.state)
	return s
}

// AddFault registers a fault (like POST /_sim/faults).
func (s *Simulator) AddFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ff := f
	s.faults = append(s.faults, &ff)
}

// SetProfileError makes GET /<ver>/<igsid> answer Meta's error code (0 clears it).
func (s *Simulator) SetProfileError(igsid string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == 0 {
		delete(s.profileErrors, igsid)
		return
	}
	s.profileErrors[igsid] = code
}

// SetDeny makes the authorize page answer like a user who cancelled.
func (s *Simulator) SetDeny(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = deny
}

// Revoke kills every token of the account (they answer 190/460 from now on).
func (s *Simulator) Revoke(accountID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[accountID] = true
}

// IssueToken returns a valid long-lived token for the account, as if it had been exchanged.
func (s *Simulator) IssueToken(accountID string) string { return newToken("L", accountID) }

// Subscribed returns the fields the account is subscribed to ("" when not subscribed).
func (s *Simulator) Subscribed(accountID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subscriptions[accountID]
}

// Count returns how many requests matched the route pattern, e.g. "GET /refresh_access_token".
func (s *Simulator) Count(pattern string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[pattern]
}

// ServeHTTP implements http.Handler.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, pattern := s.mux.Handler(r)
	if pattern == "" {
		writeError(w, metaError{Status: http.StatusBadRequest, Code: 100, Type: "GraphMethodException",
			Message: fmt.Sprintf("Unsupported %s request.", strings.ToLower(r.Method))})
		return
	}
	s.mu.Lock()
	s.counts[pattern]++
	s.mu.Unlock()
	if !strings.HasPrefix(r.URL.Path, "/_sim/") {
		if me, ok := s.injectedFault(r); ok {
			if strings.HasPrefix(r.URL.Path, "/oauth/") {
				writeOAuthError(w, me.Status, me.Message)
				return
			}
			writeError(w, me)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Simulator) injectedFault(r *http.Request) (metaError, bool) {
	if h := r.Header.Get("X-Sim-Fail"); h != "" {
		c, sub, _ := strings.Cut(h, "/")
		code, _ := strconv.Atoi(strings.TrimSpace(c))
		subcode, _ := strconv.Atoi(strings.TrimSpace(sub))
		if code != 0 {
			return errorFor(code, subcode), true
		}
	}
	_, account, _ := parseToken(requestToken(r))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.TimeoutAfterAccept || f.AfterAccept {
			continue // taken by the send handler
		}
		if f.Path != r.URL.Path || (f.Method != "" && !strings.EqualFold(f.Method, r.Method)) ||
			(f.AccountID != "" && f.AccountID != account) {
			continue
		}
		me := f.answer()
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
		}
		return me, true
	}
	return metaError{}, false
}

// ---------------------------------------------------------------- OAuth

func (s *Simulator) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Scheme == "" || redirect.Host == "" {
		writeOAuthError(w, http.StatusBadRequest, "Invalid redirect_uri")
		return
	}
	if q.Get("client_id") == "" || q.Get("response_type") != "code" {
		writeOAuthError(w, http.StatusBadRequest, "Invalid client_id or response_type")
		return
	}
	back := redirect.Query()
	back.Set("state", q.Get("state"))
	s.mu.Lock()
	deny := s.deny
	s.mu.Unlock()
	if deny || q.Get("sim_deny") == "1" {
		back.Set("error", "access_denied")
		back.Set("error_reason", "user_denied")
		back.Set("error_description", "The user denied your request.")
	} else {
		account := s.cfg.AccountID
		if a := q.Get("sim_account"); a != "" {
			account = a
		}
		c := randomHex(32)
		s.mu.Lock()
		s.codes[c] = &code{account: account, redirectURI: redirect.String()}
		s.mu.Unlock()
		back.Set("code", c)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (s *Simulator) accessToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "Invalid request body")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "authorization_code" {
		writeOAuthError(w, http.StatusBadRequest, "Invalid grant_type")
		return
	}
	if f.Get("client_id") == "" || (s.cfg.AppSecret != "" && !hmac.Equal([]byte(f.Get("client_secret")), []byte(s.cfg.AppSecret))) {
		writeOAuthError(w, http.StatusBadRequest, "Error validating client secret.")
		return
	}
	s.mu.Lock()
	c, ok := s.codes[strings.TrimSuffix(f.Get("code"), "#_")]
	valid := ok && !c.used && c.redirectURI == f.Get("redirect_uri")
	if ok {
		c.used = true // a code is single-use, even when the exchange fails
	}
	s.mu.Unlock()
	if !valid {
		writeOAuthError(w, http.StatusBadRequest, "This authorization code has been used")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": newToken("S", c.account),
		"user_id":      json.Number(c.account),
		"permissions":  []string{"instagram_business_basic", "instagram_business_manage_messages"},
	})
}

func (s *Simulator) exchange(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("grant_type") != "ig_exchange_token" {
		writeError(w, metaError{Status: 400, Code: 100, Type: "IGApiException", Message: "Invalid grant_type"})
		return
	}
	if s.cfg.AppSecret != "" && !hmac.Equal([]byte(q.Get("client_secret")), []byte(s.cfg.AppSecret)) {
		writeError(w, metaError{Status: 400, Code: 101, Type: "OAuthException", Message: "Error validating client secret."})
		return
	}
	account, ok := s.tokenAccount(w, q.Get("access_token"), "S")
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": newToken("L", account), "token_type": "bearer", "expires_in": LongLivedSeconds})
}

func (s *Simulator) refresh(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("grant_type") != "ig_refresh_token" {
		writeError(w, metaError{Status: 400, Code: 100, Type: "IGApiException", Message: "Invalid grant_type"})
		return
	}
	account, ok := s.tokenAccount(w, q.Get("access_token"), "L")
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": newToken("L", account), "token_type": "bearer", "expires_in": LongLivedSeconds})
}

// ---------------------------------------------------------------- Graph

func (s *Simulator) me(w http.ResponseWriter, r *http.Request) {
	account, ok := s.tokenAccount(w, r.URL.Query().Get("access_token"), "")
	if !ok {
		return
	}
	username := s.cfg.Username
	if account != s.cfg.AccountID {
		username = "sim_" + account
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id":                  "9" + account, // app-scoped id; differs from user_id like Meta's
		"user_id":             account,
		"username":            username,
		"name":                "Simulated " + username,
		"account_type":        "BUSINESS",
		"profile_picture_url": "https://scontent.cdninstagram.com/sim/" + account + ".jpg",
	})
}

func (s *Simulator) subscribe(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, metaError{Status: 400, Code: 100, Type: "IGApiException", Message: "Invalid parameter"})
		return
	}
	account, ok := s.tokenAccount(w, r.Form.Get("access_token"), "")
	if !ok {
		return
	}
	fields := r.Form.Get("subscribed_fields")
	if fields == "" {
		writeError(w, metaError{Status: 400, Code: 100, Type: "IGApiException", Message: "(#100) The parameter subscribed_fields is required."})
		return
	}
	s.mu.Lock()
	s.subscriptions[account] = fields
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"success": true})
}

var numeric = regexp.MustCompile(`^[0-9]+$`)

func (s *Simulator) profile(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.tokenAccount(w, r.URL.Query().Get("access_token"), ""); !ok {
		return
	}
	igsid := r.PathValue("igsid")
	if !numeric.MatchString(igsid) {
		writeError(w, errorFor(100, 33))
		return
	}
	if c := s.ProfileError(igsid); c != 0 {
		writeError(w, errorFor(c, 0))
		return
	}
	tail := igsid
	if len(tail) > 4 {
		tail = tail[len(tail)-4:]
	}
	name := "Customer " + tail
	if strings.HasSuffix(igsid, "7") {
		// Names are free text: emoji with skin tone and ZWJ, RTL with a mark, CJK.
		name = "Customer " + tail + " 👩🏽‍💻 José ‏مرحبا 王"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name":                    name,
		"username":                "customer_" + tail,
		"profile_pic":             "https://scontent.cdninstagram.com/sim/profile/" + igsid + ".jpg",
		"follower_count":          len(igsid) * 10,
		"is_user_follow_business": true,
		"is_business_follow_user": false,
		"is_verified_user":        false,
	})
}

// ProfileError is the error code GET /<ver>/<igsid> answers: one set with SetProfileError, or
// by default from the IGSID's last digits: ...9010 -> 9010, ...0230 -> 230, ...0190 -> 190,
// ...0100 -> 100; 0 for a normal profile.
func (s *Simulator) ProfileError(igsid string) int {
	s.mu.Lock()
	c, ok := s.profileErrors[igsid]
	s.mu.Unlock()
	if ok {
		return c
	}
	for suffix, code := range map[string]int{"9010": 9010, "0230": 230, "0190": 190, "0100": 100} {
		if strings.HasSuffix(igsid, suffix) {
			return code
		}
	}
	return 0
}

// tokenAccount validates a token (kind "S" short, "L" long, "" either) and answers 190 if it
// is not valid.
func (s *Simulator) tokenAccount(w http.ResponseWriter, token, kind string) (string, bool) {
	k, account, ok := parseToken(token)
	if !ok || (kind != "" && k != kind) {
		writeError(w, metaError{Status: 400, Code: 190, Type: "OAuthException", Message: "Invalid OAuth access token - Cannot parse access token"})
		return "", false
	}
	s.mu.Lock()
	revoked := s.revoked[account]
	s.mu.Unlock()
	if revoked {
		writeError(w, errorFor(190, 460))
		return "", false
	}
	return account, true
}

func newToken(kind, account string) string {
	return "IGSIM" + kind + "_" + account + "_" + randomHex(24)
}

func parseToken(t string) (kind, account string, ok bool) {
	rest, found := strings.CutPrefix(t, "IGSIM")
	if !found || len(rest) < 2 {
		return "", "", false
	}
	parts := strings.Split(rest[1:], "_")
	if len(parts) != 3 || parts[0] != "" || !numeric.MatchString(parts[1]) || parts[2] == "" {
		return "", "", false
	}
	return rest[:1], parts[1], true
}

// ---------------------------------------------------------------- control

func (s *Simulator) addFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if err := json.NewDecoder(r.Body).Decode(&f); err != nil || f.Path == "" || (f.Code == 0 && !f.TimeoutAfterAccept) {
		http.Error(w, `{"error":"want {\"path\":\"/...\",\"code\":190,...}"}`, http.StatusBadRequest)
		return
	}
	s.AddFault(f)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Simulator) clearFaults(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Simulator) setProfileError(w http.ResponseWriter, r *http.Request) {
	var in struct {
		IGSID string `json:"igsid"`
		Code  int    `json:"code"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.IGSID == "" {
		http.Error(w, `{"error":"want {\"igsid\":\"...\",\"code\":9010}"}`, http.StatusBadRequest)
		return
	}
	s.SetProfileError(in.IGSID, in.Code)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Simulator) setDeny(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Deny bool `json:"deny"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, `{"error":"want {\"deny\":true}"}`, http.StatusBadRequest)
		return
	}
	s.SetDeny(in.Deny)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Simulator) revoke(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AccountID string `json:"account_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.AccountID == "" {
		http.Error(w, `{"error":"want {\"account_id\":\"...\"}"}`, http.StatusBadRequest)
		return
	}
	s.Revoke(in.AccountID)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// State is what GET /_sim/state returns.
type State struct {
	AccountID     string            `json:"account_id"`
	WebhookURL    string            `json:"webhook_url,omitempty"`
	Deny          bool              `json:"deny"`
	CodesIssued   int               `json:"codes_issued"`
	Subscriptions map[string]string `json:"subscriptions"`
	Revoked       []string          `json:"revoked"`
	Faults        []Fault           `json:"faults"`
	ProfileErrors map[string]int    `json:"profile_errors"`
	Requests      map[string]int    `json:"requests"`
	// Sent counts the accepted sends per recipient IGSID.
	Sent map[string]int `json:"sent"`
}

// Snapshot returns the simulator's state.
func (s *Simulator) Snapshot() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{
		AccountID: s.cfg.AccountID, WebhookURL: s.cfg.WebhookURL, Deny: s.deny, CodesIssued: len(s.codes),
		Subscriptions: map[string]string{}, Revoked: []string{}, Faults: []Fault{},
		ProfileErrors: map[string]int{}, Requests: map[string]int{}, Sent: map[string]int{},
	}
	for k, v := range s.sent {
		st.Sent[k] = v
	}
	for k, v := range s.subscriptions {
		st.Subscriptions[k] = v
	}
	for k := range s.revoked {
		st.Revoked = append(st.Revoked, k)
	}
	sort.Strings(st.Revoked)
	for _, f := range s.faults {
		st.Faults = append(st.Faults, *f)
	}
	for k, v := range s.profileErrors {
		st.ProfileErrors[k] = v
	}
	for k, v := range s.counts {
		st.Requests[k] = v
	}
	return st
}

func (s *Simulator) state(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Snapshot())
}

// ---------------------------------------------------------------- errors

type metaError struct {
	Status  int
	Code    int
	Subcode int
	Type    string
	Message string
	Raw     string // answered as is instead of the error JSON (Fault.Body)
}

// answer is the error a fault makes the simulator answer.
func (f *Fault) answer() metaError {
	if f.Body != "" {
		return metaError{Status: cmp.Or(f.Status, http.StatusOK), Raw: f.Body}
	}
	me := errorFor(f.Code, f.Subcode)
	if f.Status != 0 {
		me.Status = f.Status
	}
	if f.Type != "" {
		me.Type = f.Type
	}
	if f.Message != "" {
		me.Message = f.Message
	}
	return me
}

// errorFor returns Meta's documented error for a code.
func errorFor(code, subcode int) metaError {
	me := metaError{Status: http.StatusBadRequest, Code: code, Subcode: subcode, Type: "IGApiException"}
	switch code {
	case 190:
		me.Type = "OAuthException"
		switch subcode {
		case 460:
			me.Message = "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons."
		case 458:
			me.Message = "Error validating access token: The user has not authorized application."
		default:
			me.Message = "Error validating access token: Session has expired."
		}
	case 1:
		me.Status, me.Type, me.Message = http.StatusInternalServerError, "OAuthException", "An unknown error occurred"
	case 2:
		me.Status, me.Type, me.Message = http.StatusServiceUnavailable, "OAuthException", "An unexpected error has occurred. Please retry your request later."
	case 4:
		me.Status, me.Type, me.Message = http.StatusForbidden, "OAuthException", "(#4) Application request limit reached"
	case 32:
		me.Status, me.Type, me.Message = http.StatusForbidden, "OAuthException", "(#32) Page request limit reached"
	case 613:
		me.Message = "(#613) Calls to this api have exceeded the rate limit."
	case 9010:
		me.Message = "No matching Instagram user"
	case 230:
		me.Message = "User consent is required to access user profile"
	case 100:
		me.Type = "GraphMethodException"
		me.Message = "Unsupported get request. Object with ID does not exist, cannot be loaded due to missing permissions, or does not support this operation."
	case 10:
		me.Type, me.Message = "OAuthException", "(#10) This message is sent outside of allowed window."
	case 200:
		me.Status, me.Type, me.Message = http.StatusForbidden, "OAuthException", "(#200) Permissions error"
	case 551:
		me.Message = "This person isn't available right now."
	default:
		if code >= 500 && code < 600 {
			me.Status, me.Code, me.Message = code, 2, "An unexpected error has occurred. Please retry your request later."
		} else {
			me.Message = fmt.Sprintf("(#%d) Simulated error", code)
		}
	}
	return me
}

func writeError(w http.ResponseWriter, me metaError) {
	if me.Raw != "" {
		w.WriteHeader(me.Status)
		_, _ = io.WriteString(w, me.Raw)
		return
	}
	body := map[string]any{"message": me.Message, "type": me.Type, "code": me.Code, "fbtrace_id": "Sim" + randomHex(10)}
	if me.Subcode != 0 {
		body["error_subcode"] = me.Subcode
	}
	w.Header().Set("WWW-Authenticate", `OAuth "Facebook Platform" "`+me.Type+`"`)
	writeJSON(w, me.Status, map[string]any{"error": body})
}

// writeOAuthError answers Instagram's OAuth error shape.
func writeOAuthError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]any{"error_type": "OAuthException", "code": status, "error_message": message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	// Like the Graph API: non-ASCII escaped, / as \/.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	_, _ = w.Write(MetaJSON(buf.Bytes()))
}

func randomHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
