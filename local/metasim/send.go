package metasim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// SentMessage is a message the send API accepted.
type SentMessage struct {
	AccountID      string `json:"account_id"`
	RecipientIGSID string `json:"recipient_id"`
	MID            string `json:"mid"`
	Text           string `json:"text,omitempty"`
	AttachmentType string `json:"attachment_type,omitempty"`
	AttachmentURL  string `json:"attachment_url,omitempty"`
	MessagingType  string `json:"messaging_type,omitempty"`
	Tag            string `json:"tag,omitempty"`
	Timestamp      int64  `json:"timestamp"`
}

// SentTo returns how many sends to the recipient the simulator accepted.
func (s *Simulator) SentTo(igsid string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[igsid]
}

// Sends returns every accepted send, in order.
func (s *Simulator) Sends() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentMessage(nil), s.sends...)
}

// Wait blocks until every webhook the simulator started posting is done (tests).
func (s *Simulator) Wait() {
	for {
		s.mu.Lock()
		n := s.posting
		s.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// requestToken is the access token of a request: the Authorization bearer token (send API)
// or the access_token parameter.
func requestToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	_ = r.ParseForm() // idempotent: handlers parse again
	return r.Form.Get("access_token")
}

var sendAttachmentTypes = map[string]bool{"image": true, "video": true, "audio": true, "file": true}

// send is POST /<ver>/me/messages.
func (s *Simulator) send(w http.ResponseWriter, r *http.Request) {
	account, ok := s.tokenAccount(w, requestToken(r), "")
	if !ok {
		return
	}
	var in struct {
		Recipient struct {
			ID string `json:"id"`
		} `json:"recipient"`
		Message struct {
			Text       string `json:"text"`
			Attachment *struct {
				Type    string `json:"type"`
				Payload struct {
					URL string `json:"url"`
				} `json:"payload"`
			} `json:"attachment"`
		} `json:"message"`
		MessagingType string `json:"messaging_type"`
		Tag           string `json:"tag"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, metaError{Status: 400, Code: 100, Type: "IGApiException", Message: "(#100) Invalid JSON body"})
		return
	}
	msg := SentMessage{AccountID: account, RecipientIGSID: in.Recipient.ID, Text: in.Message.Text,
		MessagingType: in.MessagingType, Tag: in.Tag}
	switch a := in.Message.Attachment; {
	case !numeric.MatchString(in.Recipient.ID):
		writeError(w, metaError{Status: 400, Code: 100, Subcode: 2534014, Type: "IGApiException", Message: "No matching user found"})
		return
	case a != nil && (!sendAttachmentTypes[a.Type] || !strings.HasPrefix(a.Payload.URL, "https://")):
		writeError(w, metaError{Status: 400, Code: 100, Subcode: 2018047, Type: "IGApiException", Message: "(#100) Upload attachment failure."})
		return
	case a != nil:
		msg.AttachmentType, msg.AttachmentURL = a.Type, a.Payload.URL
	case in.Message.Text == "":
		writeError(w, metaError{Status: 400, Code: 100, Type: "IGApiException", Message: "(#100) Message is empty"})
		return
	case len(in.Message.Text) > 1000 || !utf8.ValidString(in.Message.Text):
		writeError(w, metaError{Status: 400, Code: 100, Type: "IGApiException", Message: "(#100) Message text is too long (1000 bytes at most)"})
		return
	}
	if in.MessagingType == "MESSAGE_TAG" && in.Tag != "HUMAN_AGENT" {
		writeError(w, metaError{Status: 400, Code: 100, Type: "IGApiException", Message: "(#100) Unsupported tag"})
		return
	}
	fault, faulty := s.takeAcceptFault(r.URL.Path, account)
	msg.MID = newMID(account, msg.RecipientIGSID)
	msg.Timestamp = s.cfg.Now().UnixMilli()
	s.mu.Lock()
	s.sent[msg.RecipientIGSID]++
	s.sends = append(s.sends, msg)
	s.mu.Unlock()
	s.postLater(s.cfg.EchoDelay, echoBody(msg))
	if faulty && fault.AfterAccept {
		writeError(w, fault.answer()) // accepted, but the answer says otherwise
		return
	}
	if faulty {
		// Accepted, but the answer comes too late for the client.
		delay := time.Duration(fault.DelayMS) * time.Millisecond
		if delay <= 0 {
			delay = 15 * time.Second
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"recipient_id": msg.RecipientIGSID, "message_id": msg.MID})
}

// takeAcceptFault consumes a timeout_after_accept or after_accept fault matching the request.
func (s *Simulator) takeAcceptFault(path, account string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if (!f.TimeoutAfterAccept && !f.AfterAccept) || f.Path != path || (f.AccountID != "" && f.AccountID != account) {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
		}
		return *f, true
	}
	return Fault{}, false
}

// newMID returns a mid shaped like Meta's (base64 of an ig_message_item id).
func newMID(account, igsid string) string {
	raw := fmt.Sprintf("ig_message_item:1:IGMessageThread:%s:%s:%s", account, igsid, randomHex(32))
	return base64.RawStdEncoding.EncodeToString([]byte(raw))
}

// webhookBody writes a webhook body as Meta does (MetaJSON: non-ASCII escaped).
func webhookBody(account string, item map[string]any, now int64) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]any{
		"object": "instagram",
		"entry":  []any{map[string]any{"time": now, "id": account, "messaging": []any{item}}},
	})
	return MetaJSON(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// echoBody is Meta's echo of a sent message: sender = the business, recipient = the customer.
func echoBody(m SentMessage) []byte {
	message := map[string]any{"mid": m.MID, "is_echo": true}
	if m.AttachmentType != "" {
		message["attachments"] = []any{map[string]any{"type": m.AttachmentType, "payload": map[string]any{
			"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=" + randomHex(16) + "&signature=" + randomHex(24),
		}}}
	} else {
		message["text"] = m.Text
	}
	item := map[string]any{
		"sender":    map[string]any{"id": m.AccountID},
		"recipient": map[string]any{"id": m.RecipientIGSID},
		"timestamp": m.Timestamp,
		"message":   message,
	}
	return webhookBody(m.AccountID, item, m.Timestamp+200)
}

// postLater posts a signed webhook body after d, in the background, retrying a few times
// like Meta does.
func (s *Simulator) postLater(d time.Duration, body []byte) {
	if s.cfg.WebhookURL == "" {
		return
	}
	s.mu.Lock()
	s.posting++
	s.mu.Unlock()
	go func() {
		defer func() {
			s.mu.Lock()
			s.posting--
			s.mu.Unlock()
		}()
		time.Sleep(d)
		_ = s.postWebhook(body)
	}()
}

// postWebhook signs body with the app secret and POSTs it to WebhookURL, retrying failures
// (Meta retries for hours; the simulator a few times).
func (s *Simulator) postWebhook(body []byte) error {
	if s.cfg.WebhookURL == "" {
		return errors.New("no webhook URL configured")
	}
	mac := hmac.New(sha256.New, []byte(s.cfg.AppSecret))
	mac.Write(body)
	sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt*attempt) * 200 * time.Millisecond)
		}
		req, err := http.NewRequest(http.MethodPost, s.cfg.WebhookURL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature-256", sig)
		resp, err := s.cfg.WebhookClient.Do(req)
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return last
}

// PostMessage posts an incoming text message webhook from the contact to the account and
// returns its mid (demos: a contact writes).
func (s *Simulator) PostMessage(accountID, igsid, text string) (string, error) {
	if accountID == "" {
		accountID = s.cfg.AccountID
	}
	now := s.cfg.Now().UnixMilli()
	mid := newMID(accountID, igsid)
	item := map[string]any{
		"sender": map[string]any{"id": igsid}, "recipient": map[string]any{"id": accountID},
		"timestamp": now, "message": map[string]any{"mid": mid, "text": text},
	}
	return mid, s.postWebhook(webhookBody(accountID, item, now+200))
}

// PostRead posts a read (messaging_seen) webhook: the contact read up to mid.
func (s *Simulator) PostRead(accountID, igsid, mid string) error {
	if accountID == "" {
		accountID = s.cfg.AccountID
	}
	now := s.cfg.Now().UnixMilli()
	item := map[string]any{
		"sender": map[string]any{"id": igsid}, "recipient": map[string]any{"id": accountID},
		"timestamp": now, "read": map[string]any{"mid": mid},
	}
	return s.postWebhook(webhookBody(accountID, item, now+200))
}

func (s *Simulator) simMessage(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AccountID string `json:"account_id"`
		IGSID     string `json:"igsid"`
		Text      string `json:"text"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || !numeric.MatchString(in.IGSID) || in.Text == "" {
		http.Error(w, `{"error":"want {\"igsid\":\"<digits>\",\"text\":\"...\"}"}`, http.StatusBadRequest)
		return
	}
	mid, err := s.PostMessage(in.AccountID, in.IGSID, in.Text)
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "mid": mid})
}

func (s *Simulator) simRead(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AccountID string `json:"account_id"`
		IGSID     string `json:"igsid"`
		MID       string `json:"mid"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || !numeric.MatchString(in.IGSID) || in.MID == "" {
		http.Error(w, `{"error":"want {\"igsid\":\"<digits>\",\"mid\":\"...\"}"}`, http.StatusBadRequest)
		return
	}
	if err := s.PostRead(in.AccountID, in.IGSID, in.MID); err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}
