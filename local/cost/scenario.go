package cost

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf16"

	"github.com/iginbox/iginbox/local/metasim"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/store"
)

// scenario plays one phase per event kind. Every event is its own webhook body and is
// processed before the next is sent: at a business's volume (thousands a day) Meta's
// deliveries arrive one at a time, so each event is one webhook request and one processor
// invocation. Under a heavier load the event source mapping batches up to 10 records per
// invocation and the Lambda figures per event fall.
type scenario struct {
	o                         Options
	rec                       *Recorder
	account, secret, apiToken string
	front                     string
	sim                       *metasim.Simulator
	st                        *store.Store
	idle                      func(ctx context.Context) error
	base                      int64 // Meta timestamps start here (ms)
	seq                       int64
}

// Sample text of a customer message: typical length, emoji and right-to-left script.
const sampleText = "Hi! Do you still have the blue one in size M? Can you ship to Lyon by Friday? 😂 شكرا"

func (s *scenario) ts() int64 { s.seq++; return s.base + s.seq }

// mid builds a mid of Meta's usual length (about 130 characters).
func (s *scenario) mid(kind string, i int) string {
	raw := fmt.Sprintf("ig_item:1:IGMessageThread:%s:340282366841710301244276%014d:%s-%06d", s.account, i, kind, i)
	return base64.RawStdEncoding.EncodeToString([]byte(raw))
}

// body wraps one event in a webhook body, with every non-ASCII character escaped as Meta
// writes them (\ud83d\ude02).
func (s *scenario) body(event map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"object": "instagram", "entry": []any{map[string]any{
		"id": s.account, "time": event["timestamp"], "messaging": []any{event}}}})
	var out strings.Builder
	for _, r := range string(b) {
		switch {
		case r < 0x80:
			out.WriteRune(r)
		case r > 0xffff:
			hi, lo := utf16.EncodeRune(r)
			fmt.Fprintf(&out, "\\u%04x\\u%04x", hi, lo)
		default:
			fmt.Fprintf(&out, "\\u%04x", r)
		}
	}
	return []byte(out.String())
}

func (s *scenario) from(igsid string, key string, v any) map[string]any {
	return map[string]any{"sender": map[string]any{"id": igsid}, "recipient": map[string]any{"id": s.account}, "timestamp": s.ts(), key: v}
}

// deliver posts one body and waits until everything it caused is done.
func (s *scenario) deliver(ctx context.Context, b []byte) error {
	if err := post(ctx, s.front+"/webhooks/instagram", s.secret, b); err != nil {
		return err
	}
	return s.idle(ctx)
}

func (s *scenario) play(ctx context.Context, progress func(string, ...any)) error {
	n := s.o.Events
	contacts := make([]string, n)
	texts := make([][]byte, n)
	mids := make([]string, n)
	phase := func(name string, events int, each func(i int) error) error {
		s.rec.Phase(name, events)
		for i := range n {
			if err := each(i); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		s.rec.Phase("between", 0)
		progress("measured %q: %d events", name, events)
		return nil
	}
	steps := []struct {
		name string
		each func(i int) error
	}{
		{PhaseNewContact, func(i int) error {
			contacts[i] = fmt.Sprintf("88%013d", i)
			return s.deliver(ctx, s.body(s.from(contacts[i], "message", map[string]any{"mid": s.mid("first", i), "text": sampleText})))
		}},
		{PhaseText, func(i int) error {
			mids[i] = s.mid("text", i)
			texts[i] = s.body(s.from(contacts[i], "message", map[string]any{"mid": mids[i], "text": sampleText}))
			return s.deliver(ctx, texts[i])
		}},
		{PhaseAttachment, func(i int) error {
			url := fmt.Sprintf("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18%015d&signature=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", i)
			return s.deliver(ctx, s.body(s.from(contacts[i], "message", map[string]any{"mid": s.mid("image", i),
				"attachments": []any{map[string]any{"type": "image", "payload": map[string]any{"url": url}}}})))
		}},
		{PhaseEcho, func(i int) error {
			// A message the business wrote in the Instagram app (not through iginbox).
			ev := map[string]any{"sender": map[string]any{"id": s.account}, "recipient": map[string]any{"id": contacts[i]}, "timestamp": s.ts(),
				"message": map[string]any{"mid": s.mid("echo", i), "text": "Yes, size M is in stock. We ship to Lyon in 2 days 🙂", "is_echo": true}}
			return s.deliver(ctx, s.body(ev))
		}},
		{PhaseReaction, func(i int) error {
			return s.deliver(ctx, s.body(s.from(contacts[i], "reaction", map[string]any{"mid": mids[i], "action": "react", "reaction": "love", "emoji": "❤️"})))
		}},
		{PhaseRead, func(i int) error {
			return s.deliver(ctx, s.body(s.from(contacts[i], "read", map[string]any{"mid": mids[i]})))
		}},
		{PhaseDupWindow, func(i int) error { return s.deliver(ctx, texts[i]) }},
		{PhaseDupStore, func(i int) error {
			s.rec.forgetDedup.Store(true)
			defer s.rec.forgetDedup.Store(false)
			return s.deliver(ctx, texts[i])
		}},
	}
	for _, st := range steps {
		if err := phase(st.name, n, st.each); err != nil {
			return err
		}
	}
	return s.replies(ctx, contacts, progress)
}

// replies sends o.Replies replies of one text and two images (three parts) through the API,
// and waits until every part is sent and its echo processed.
func (s *scenario) replies(ctx context.Context, contacts []string, progress func(string, ...any)) error {
	page, err := s.st.ListConversations(ctx, domain.ConversationQuery{ChannelID: s.account, Limit: 200})
	if err != nil {
		return err
	}
	byContact := map[string]string{}
	for _, c := range page.Conversations {
		byContact[c.ContactIGSID] = c.ID
	}
	const parts = 3
	s.rec.Phase(PhaseReplyPart, s.o.Replies*parts)
	for i := range s.o.Replies {
		id := byContact[contacts[i%len(contacts)]]
		if id == "" {
			return fmt.Errorf("reply: no conversation for contact %s", contacts[i%len(contacts)])
		}
		body := `{"text":"Yes! Here are two photos of the blue one 🙂","attachments":[{"type":"image","url":"https://example.com/blue-front.jpg"},{"type":"image","url":"https://example.com/blue-back.jpg"}]}`
		h := http.Header{"Authorization": {"Bearer " + s.apiToken}, "Content-Type": {"application/json"}, "Idempotency-Key": {fmt.Sprintf("cost-reply-%d", i)}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.front+"/api/conversations/"+id+"/messages", strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("reply: status %d", resp.StatusCode)
		}
		if err := s.idle(ctx); err != nil {
			return err
		}
	}
	s.rec.Phase("between", 0)
	if got := len(s.sim.Sends()); got < s.o.Replies*parts {
		return fmt.Errorf("reply: the simulator accepted %d sends, want %d", got, s.o.Replies*parts)
	}
	progress("measured %q: %d parts", PhaseReplyPart, s.o.Replies*parts)
	return nil
}
