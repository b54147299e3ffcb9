package metasim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/iginbox/iginbox/shared/callbacks"
)

// Meta's platform callbacks, sent on demand:
//
//	POST   /_sim/deauthorize    {"account_id"}: POSTs a signed deauthorize callback
//	POST   /_sim/data-deletion  {"account_id"}: POSTs a signed data-deletion request and
//	                            relays the answer ({"url","confirmation_code"})
//	DELETE /<ver>/me/subscribed_apps  removes the account's webhook subscription
//
// The callbacks go to the stack's /instagram/deauthorize and /instagram/data-deletion, on the
// host of WebhookURL, form-encoded with one field signed_request signed with AppSecret, like
// Meta's.

func (s *Simulator) unsubscribe(w http.ResponseWriter, r *http.Request) {
	account, ok := s.tokenAccount(w, r.URL.Query().Get("access_token"), "")
	if !ok {
		return
	}
	s.mu.Lock()
	delete(s.subscriptions, account)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"success": true})
}

func (s *Simulator) simDeauthorize(w http.ResponseWriter, r *http.Request) {
	s.simCallback(w, r, callbacks.DeauthorizePath)
}

func (s *Simulator) simDataDeletion(w http.ResponseWriter, r *http.Request) {
	s.simCallback(w, r, callbacks.DataDeletionPath)
}

func (s *Simulator) simCallback(w http.ResponseWriter, r *http.Request, path string) {
	var in struct {
		AccountID string `json:"account_id"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, `{"error":"want {\"account_id\":\"...\"}"}`, http.StatusBadRequest)
			return
		}
	}
	if in.AccountID == "" {
		in.AccountID = s.cfg.AccountID
	}
	status, body, err := s.PostCallback(path, in.AccountID)
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// PostCallback POSTs a signed platform callback (callbacks.DeauthorizePath or
// callbacks.DataDeletionPath) for account to the stack and returns its answer.
func (s *Simulator) PostCallback(path, account string) (int, []byte, error) {
	if s.cfg.WebhookURL == "" {
		return 0, nil, fmt.Errorf("no webhook URL configured: the callbacks go to its host")
	}
	u, err := url.Parse(s.cfg.WebhookURL)
	if err != nil {
		return 0, nil, fmt.Errorf("webhook URL: %w", err)
	}
	u.Path, u.RawQuery = path, ""
	sr, err := callbacks.SignRequest(s.cfg.AppSecret, map[string]any{
		"algorithm": "HMAC-SHA256", "issued_at": time.Now().Unix(), "user_id": account,
	})
	if err != nil {
		return 0, nil, err
	}
	resp, err := s.cfg.WebhookClient.Post(u.String(), "application/x-www-form-urlencoded",
		strings.NewReader(url.Values{"signed_request": {sr}}.Encode()))
	if err != nil {
		return 0, nil, fmt.Errorf("post %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("read %s answer: %w", path, err)
	}
	return resp.StatusCode, body, nil
}
