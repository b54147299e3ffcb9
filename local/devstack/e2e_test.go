package devstack

// End-to-end acceptance through the real local stack (the devstack binary, its emulators, the
// bootstraps that deploy and the Meta simulator), driven only through the public surfaces: the
// signed webhook, the HTTP API, the simulator's /_sim/ controls and the queue's attributes.
//
//   - replay: every recorded body of events/meta, replayed with local/replay, becomes the
//     conversation state the fixtures imply;
//   - idempotency: delivering everything again, repeated and shuffled, changes nothing, through
//     the webhook (where SQS FIFO drops what it saw in the last 5 minutes) and straight into
//     the queue with fresh deduplication ids (as after that window), so that the processor
//     sees every duplicate; and a shuffled, concurrent first delivery of the same events for
//     other contacts converges to the same conversations as the in-order one;
//   - replies: a reply (text + 2 attachments) is sent part by part, echoed, read; a reply
//     outside the messaging window is refused;
//   - token refresh: the refresher (stack started with TOKEN_REFRESH_HORIZON=1440h and
//     REFRESH_MIN_AGE=1s, its schedule fired on demand) refreshes a due channel and flags a
//     dead one.
//
// One stack is shared by the subtests (they run in order). `go test -short` skips them.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/iginbox/iginbox/local/emulator"
	"github.com/iginbox/iginbox/local/metasim"
	"github.com/iginbox/iginbox/local/replay"
	"github.com/iginbox/iginbox/local/sqspoll"
	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/queue"
	"github.com/iginbox/iginbox/shared/webhook"
)

const (
	e2eAppSecret = "dev-app-secret" // documented dev secret (events/README.md)
	e2eAPIToken  = "e2e-api-token"
	// e2eVerifyToken is only checked never to be printed.
	e2eVerifyToken = "e2e-verify-token"
	e2eAccount     = "17841400000000001" // the dev channel, connected by the stack at start
	metaDir        = "../../events/meta"
)

// TestEndToEnd runs the scenarios above against one local stack.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole local stack")
	}
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("needs Linux /proc")
	}
	t.Parallel()
	start := time.Now()
	s := startStack(t)
	t.Logf("stack ready and channel connected in %s", time.Since(start).Round(time.Millisecond))

	steps := []struct {
		name string
		run  func(*testing.T, *stack)
	}{
		{"replay_fixtures", testReplayFixtures},
		{"reply_send_echo_read_window", testReply},
		{"every_character_round_trips", testEveryCharacter},
		{"refresher_refreshes_due_flags_dead", testRefresher},
		{"console_in_chromium", testConsoleBrowser},
		{"events_out_received_replayed_reply_statuses", testEventsOut},
	}
	for _, st := range steps {
		begin := time.Now()
		ok := t.Run(st.name, func(t *testing.T) { st.run(t, s) })
		t.Logf("%s: %s", st.name, time.Since(begin).Round(time.Millisecond))
		if !ok {
			t.Logf("devstack output (last lines):\n%s", s.logs.tail(200))
			if st.name == steps[0].name {
				return // the later steps share its state
			}
		}
	}
	if n := s.depth(t, s.dlqURL); n != 0 {
		t.Errorf("%d messages in the events DLQ", n)
	}
	// Every event the publisher put on the local bus in this run (fixtures, replies, the
	// refresher's) matched its JSON Schema: the local bus logs each mismatch.
	if n := s.logs.count(func(l string) bool { return strings.Contains(l, "does not match its schema") }); n != 0 {
		t.Errorf("%d events of this run did not match their schema", n)
	}
	// Secrets stay out, as far as this stack shows it: the secrets it was given never appear in
	// anything it printed (banner, function logs, simulator).
	for _, secret := range []struct{ name, value string }{
		{"INSTAGRAM_APP_SECRET", e2eAppSecret}, {"API_TOKEN", e2eAPIToken}, {"INSTAGRAM_VERIFY_TOKEN", e2eVerifyToken},
	} {
		if n := s.logs.count(func(l string) bool { return strings.Contains(l, secret.value) }); n != 0 {
			t.Errorf("the value of %s appears in %d lines of the stack's output", secret.name, n)
		}
	}
}

// ---------------------------------------------------------------- replay and idempotency

func testReplayFixtures(t *testing.T, s *stack) {
	all := fixtureFiles(t)
	var unreact string
	var first []string
	for _, f := range all {
		if filepath.Base(f) == "reaction-unreact.json" {
			unreact = f
			continue
		}
		first = append(first, f)
	}
	if unreact == "" {
		t.Fatal("events/meta/reaction-unreact.json is missing")
	}

	// 1. Everything but the unreact, in file order: the reaction shows.
	s.replay(t, first...)
	snap := s.waitIdle(t)
	echoMID := fixtureMID(t, "echo.json")
	if m, ok := snap.message(echoMID); !ok {
		t.Fatalf("echo %s not stored", short(echoMID))
	} else if want := []api.ReactionJSON{{Reaction: "love", Emoji: "\u2764\ufe0f", By: "contact"}}; !slices.Equal(m.Reactions, want) {
		t.Errorf("echo reactions after react = %+v, want %+v", m.Reactions, want)
	}

	// 2. The unreact (later Meta timestamp) removes it. This is the state the fixtures imply.
	s.replay(t, unreact)
	want := s.waitIdle(t)
	checkFixtureState(t, want)
	if t.Failed() {
		t.Logf("snapshot:\n%s", want.JSON)
		return
	}

	// 3. Meta redelivers everything, 3 times, in random order → same state.
	seed := uint64(time.Now().UnixNano())
	handled := s.logs.count(isEventHandled)
	out := s.replay(t, "--repeat", "3", "--shuffle", "--seed", strconv.FormatUint(seed, 10), metaDir)
	if wantLine := fmt.Sprintf("200×%d", 3*len(all)); !strings.Contains(out, wantLine) {
		t.Errorf("replay summary lacks %q:\n%s", wantLine, out)
	}
	got := s.waitIdle(t)
	if got.JSON != want.JSON {
		t.Errorf("state changed after --repeat 3 --shuffle --seed %d:\n%s", seed, diffLines(want.JSON, got.JSON))
	}
	// SQS FIFO drops a MessageDeduplicationId seen in the last 5 minutes, so most of these
	// never reach the processor: the store's own deduplication is exercised next.
	t.Logf("--repeat 3 --shuffle --seed %d: %d of %d redelivered events reached the processor (SQS deduplicates for 5 minutes)",
		seed, s.logs.count(isEventHandled)-handled, 3*fixtureEvents(t, all))

	// 4. The same redeliveries after SQS's deduplication window (Meta retries for 36 hours):
	// the webhook's envelopes of every body, 3 times, shuffled, enqueued with fresh
	// deduplication ids, so that the processor sees every duplicate.
	handled = s.logs.count(isEventHandled)
	events := s.enqueueLate(t, seed+1)
	s.waitFor(t, 60*time.Second, fmt.Sprintf("the processor to handle %d late redeliveries", events), func() (bool, string) {
		n := s.logs.count(isEventHandled) - handled
		return n >= events, fmt.Sprintf("%d handled", n)
	})
	got = s.waitIdle(t)
	if got.JSON != want.JSON {
		t.Errorf("state changed after redeliveries past the SQS deduplication window (seed %d):\n%s", seed+1, diffLines(want.JSON, got.JSON))
	}

	// 5. Convergence whatever the order of the first delivery: the same bodies for other
	// contacts (same last 4 digits, so the simulator names them alike) and other mids, never
	// seen before, delivered 3 times over in a random order, 4 at a time, must give the same
	// conversations as the in-order delivery. Only the ids differ (hashes of the contact or
	// mid): they are dropped, and contacts and mids mapped back, before comparing.
	path := filepath.Join(t.TempDir(), "other-contacts.ndjson")
	if err := os.WriteFile(path, rewriteFixtures(t, all), 0o600); err != nil {
		t.Fatal(err)
	}
	s.replay(t, "--repeat", "3", "--shuffle", "--seed", strconv.FormatUint(seed+2, 10), "--concurrency", "4", path)
	got = s.waitIdle(t)
	back := map[string]string{}
	for from, to := range otherContacts {
		back[to] = from
	}
	original := func(igsid string) (string, bool) { _, ok := otherContacts[igsid]; return igsid, ok }
	mapped := func(igsid string) (string, bool) { from, ok := back[igsid]; return from, ok }
	wantNorm := normalize(t, want, original)
	if g := normalize(t, got, mapped); g != wantNorm {
		t.Errorf("shuffled first delivery (--seed %d --concurrency 4) converged elsewhere than the in-order one:\n%s", seed+2, diffLines(wantNorm, g))
	}
	if g := normalize(t, got, original); g != wantNorm {
		t.Errorf("the first contacts' state changed:\n%s", diffLines(wantNorm, g))
	}
}

// otherContacts maps the fixtures' contacts to the contacts of step 5 (same last 4 digits).
var otherContacts = map[string]string{
	"1287461239847612": "2287461239847612",
	"7712093845120987": "8712093845120987",
	"4409182736450192": "5409182736450192",
}

const otherMIDSuffix = "_e2e"

var midField = regexp.MustCompile(`"mid":"([^"]*)"`)

// rewriteFixtures returns the bodies of files as NDJSON with otherContacts' IGSIDs and every
// mid suffixed (message, reply_to, reaction, read and postback mids alike).
func rewriteFixtures(t *testing.T, files []string) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.TrimSpace(b)
		if bytes.ContainsRune(b, '\n') {
			t.Fatalf("%s is not one line of JSON", f)
		}
		b = midField.ReplaceAll(b, []byte(`"mid":"${1}`+otherMIDSuffix+`"`))
		for from, to := range otherContacts {
			b = bytes.ReplaceAll(b, []byte(`"`+from+`"`), []byte(`"`+to+`"`))
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// normalize returns the canonical JSON of the snapshot's conversations whose contact keep
// accepts (renamed to what it returns), without conversation and message ids (the last
// message's too) and with
// otherMIDSuffix removed from mids.
func normalize(t *testing.T, sn snapshot, keep func(igsid string) (string, bool)) string {
	t.Helper()
	var convs []map[string]any
	if err := json.Unmarshal([]byte(sn.JSON), &convs); err != nil {
		t.Fatal(err)
	}
	var out []any
	for _, c := range convs {
		conv, _ := c["conversation"].(map[string]any)
		contact, _ := conv["contact"].(map[string]any)
		igsid, _ := contact["igsid"].(string)
		name, ok := keep(igsid)
		if !ok {
			continue
		}
		contact["igsid"] = name
		delete(conv, "id")
		if last, ok := conv["last_message"].(map[string]any); ok {
			delete(last, "id") // a message id: a hash of the contact's mid, like the others
		}
		msgs, _ := c["messages"].([]any)
		if last, ok := conv["last_message"].(map[string]any); ok {
			msgs = append(msgs, last) // the conversation's last_message: same ids to drop
		}
		for _, m := range msgs {
			msg, _ := m.(map[string]any)
			delete(msg, "id")
			if mid, ok := msg["mid"].(string); ok {
				msg["mid"] = strings.TrimSuffix(mid, otherMIDSuffix)
			}
			if r, ok := msg["reply_to"].(map[string]any); ok {
				if mid, ok := r["mid"].(string); ok {
					r["mid"] = strings.TrimSuffix(mid, otherMIDSuffix)
				}
			}
		}
		out = append(out, c)
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkFixtureState asserts what events/meta implies once every body is delivered.
func checkFixtureState(t *testing.T, snap snapshot) {
	t.Helper()
	// Contacts of the dev account; account 17841400000000002 (batch-mixed.json) has no
	// channel, so its events are ignored.
	wantConvs := map[string]struct {
		messages                   int
		lastActivity, lastIncoming string
	}{
		"1287461239847612": {23, "2025-11-22T09:00:00.043Z", "2025-11-22T09:00:00.043Z"}, // 22 messages and the referral entry
		"7712093845120987": {2, "2025-11-22T09:00:00.042Z", "2025-11-22T09:00:00.041Z"},  // the echo is not incoming
		"4409182736450192": {1, "2025-11-22T09:00:00.046Z", "2025-11-22T09:00:00.046Z"},  // standby
	}
	if len(snap.Convs) != len(wantConvs) {
		t.Errorf("%d conversations, want %d", len(snap.Convs), len(wantConvs))
	}
	seen := map[string]bool{}
	for i, c := range snap.Convs {
		w, ok := wantConvs[c.Contact.IGSID]
		switch {
		case !ok:
			t.Errorf("unexpected conversation with %s", c.Contact.IGSID)
			continue
		case seen[c.Contact.IGSID]:
			t.Errorf("two conversations with %s", c.Contact.IGSID)
		}
		seen[c.Contact.IGSID] = true
		if c.ChannelID != e2eAccount || c.Status != "open" || c.Contact.Name == "" || c.Contact.Unknown {
			t.Errorf("conversation %+v: want open, channel %s, a known named contact", c.ConversationJSON, e2eAccount)
		}
		if c.LastActivityAt != w.lastActivity || c.LastIncomingAt == nil || *c.LastIncomingAt != w.lastIncoming {
			t.Errorf("conversation with %s: last_activity_at %s, last_incoming_at %v; want %s, %s",
				c.Contact.IGSID, c.LastActivityAt, deref(c.LastIncomingAt), w.lastActivity, w.lastIncoming)
		}
		if len(c.Messages) != w.messages {
			t.Errorf("conversation with %s has %d messages, want %d", c.Contact.IGSID, len(c.Messages), w.messages)
		}
		if i > 0 && snap.Convs[i-1].LastActivityAt < c.LastActivityAt {
			t.Errorf("conversations not newest first at %d", i)
		}
		for j := 1; j < len(c.Messages); j++ { // by Meta's timestamp, ties by mid
			a, b := c.Messages[j-1], c.Messages[j]
			if a.Timestamp > b.Timestamp || (a.Timestamp == b.Timestamp && a.MID >= b.MID) {
				t.Errorf("conversation with %s: messages %d and %d out of order", c.Contact.IGSID, j-1, j)
			}
		}
	}
	mids := map[string]int{}
	referrals := 0
	for _, c := range snap.Convs {
		for _, m := range c.Messages {
			if m.Kind == "referral" { // an event entry, without mid
				referrals++
				continue
			}
			mids[m.MID]++
		}
	}
	if referrals != 1 {
		t.Errorf("%d referral entries, want 1 (referral.json)", referrals)
	}
	for mid, n := range mids { // one stored message per mid
		if n != 1 {
			t.Errorf("mid %s stored %d times", short(mid), n)
		}
	}

	textMID := fixtureMID(t, "message-text.json")
	cases := []struct {
		name    string
		fixture string
		check   func(m api.MessageJSON) string
	}{
		{"text message unsent: deleted, content gone", "message-text.json", func(m api.MessageJSON) string {
			if !m.Deleted || m.Text != "" || len(m.Attachments) != 0 || m.ReplyTo != nil || m.Direction != "incoming" {
				return "want an incoming deleted message without content"
			}
			return ""
		}},
		{"text message replying to a mid", "message-reply-to-mid.json", func(m api.MessageJSON) string {
			if m.Text != "Esse aqui mesmo" || m.ReplyTo == nil || m.ReplyTo.MID != textMID || m.Status != "received" || m.Deleted {
				return "want text and reply_to.mid of message-text.json"
			}
			return ""
		}},
		{"reply to a story", "message-reply-to-story.json", func(m api.MessageJSON) string {
			if m.Text != "Amei esse look!" || m.ReplyTo == nil || m.ReplyTo.StoryID != "18078901234567890" || !strings.HasPrefix(m.ReplyTo.StoryURL, "https://") {
				return "want text and reply_to story id and url"
			}
			return ""
		}},
		{"quick reply", "message-quick-reply.json", textIs("Rastrear pedido")},
		{"message with an ad referral", "message-referral.json", textIs("Oi, vi o an\u00fancio")},
		{"standby message", "standby.json", textIs("Algu\u00e9m a\u00ed?")},
		{"unsupported message", "message-unsupported.json", func(m api.MessageJSON) string {
			if !m.Unsupported || m.Text != "" || m.Direction != "incoming" {
				return "want an incoming unsupported message"
			}
			return ""
		}},
		{"postback", "postback.json", func(m api.MessageJSON) string {
			if m.Text != "Falar com atendente" || m.Direction != "incoming" {
				return "want the postback's title as an incoming message"
			}
			return ""
		}},
		{"echo: outgoing, read (read.json is later), reaction undone", "echo.json", func(m api.MessageJSON) string {
			if m.Direction != "outgoing" || !m.Echo || m.Text != "Temos sim! Qual cor voc\u00ea prefere?" || m.Status != "read" || len(m.Reactions) != 0 {
				return "want an outgoing echo, status read, no reactions"
			}
			return ""
		}},
	}
	for _, c := range cases {
		mid := fixtureMID(t, c.fixture)
		m, ok := snap.message(mid)
		if !ok {
			t.Errorf("%s: %s (%s) not stored", c.name, c.fixture, short(mid))
			continue
		}
		if problem := c.check(m); problem != "" {
			t.Errorf("%s: %s; got %+v", c.name, problem, m)
		}
	}

	// Attachments of every type, unknown ones included, with their URL.
	types := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(metaDir, "message-attachment-*.json"))
	for _, f := range files {
		item := fixtureItem(t, filepath.Base(f))
		att := item.Message.Attachments[0]
		types[att.Type] = true
		m, ok := snap.message(item.Message.MID)
		if !ok {
			t.Errorf("%s not stored", filepath.Base(f))
			continue
		}
		if len(m.Attachments) != 1 || m.Attachments[0].Type != att.Type || m.Attachments[0].URL != att.Payload.URL {
			t.Errorf("%s: attachments %+v, want [{%s %s}]", filepath.Base(f), m.Attachments, att.Type, att.Payload.URL)
		}
	}
	for _, typ := range []string{"image", "video", "audio", "file", "share", "story_mention", "reel", "ig_reel", "ig_post", "ig_story"} {
		if !types[typ] {
			t.Errorf("no fixture with a %s attachment", typ)
		}
	}

	// The batch: two contacts, an echo to the second one (not read: no read from it).
	for _, want := range []struct {
		text, direction, status string
	}{{"primeira", "incoming", "received"}, {"segunda", "incoming", "received"}, {"oi", "incoming", "received"}, {"Ol\u00e1! Como posso ajudar?", "outgoing", "sent"}} {
		found := false
		for _, c := range snap.Convs {
			for _, m := range c.Messages {
				if m.Text == want.text {
					found = true
					if m.Direction != want.direction || m.Status != want.status {
						t.Errorf("%q: direction %s status %s, want %s %s", want.text, m.Direction, m.Status, want.direction, want.status)
					}
				}
			}
		}
		if !found {
			t.Errorf("batch-mixed.json message %q not stored", want.text)
		}
	}
}

func textIs(text string) func(api.MessageJSON) string {
	return func(m api.MessageJSON) string {
		if m.Text != text || m.Direction != "incoming" || m.Status != "received" || m.Deleted {
			return fmt.Sprintf("want incoming received text %q", text)
		}
		return ""
	}
}

// enqueueLate puts the webhook's envelopes of every fixture body, 3 times in a random order,
// into the events queue with deduplication ids SQS has not seen; it returns the event count.
func (s *stack) enqueueLate(t *testing.T, seed uint64) int {
	t.Helper()
	bodies, err := replay.Load([]string{metaDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := queue.NewPublisher(&freshDedup{api: s.sqs}, s.eventsURL, queue.Options{})
	events := 0
	for _, d := range replay.Plan(bodies, 3, true, seed) {
		b, err := webhook.Parse(d.Body.Data)
		if err != nil {
			t.Fatalf("%s: %v", d.Body.Source, err)
		}
		if err := pub.Publish(context.Background(), b.Events); err != nil {
			t.Fatalf("enqueue %s: %v", d.Body.Source, err)
		}
		events += len(b.Events)
	}
	return events
}

// freshDedup gives every message a deduplication id SQS has not seen (as after its
// 5-minute window), keeping the webhook's id as a prefix.
type freshDedup struct {
	api queue.BatchSender
	n   atomic.Int64
}

func (f *freshDedup) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	cp := *in
	cp.Entries = make([]sqstypes.SendMessageBatchRequestEntry, len(in.Entries))
	for i, e := range in.Entries {
		e.MessageDeduplicationId = aws.String(fmt.Sprintf("%.64s-late-%d", aws.ToString(e.MessageDeduplicationId), f.n.Add(1)))
		cp.Entries[i] = e
	}
	return f.api.SendMessageBatch(ctx, &cp, optFns...)
}

func isEventHandled(line string) bool { return strings.Contains(line, "event handled") }

// ---------------------------------------------------------------- replies

func testReply(t *testing.T, s *stack) {
	const (
		contact = "5550001234567891" // no simulated profile error (see metasim.ProfileError)
		old     = "5550001234567893"
	)
	now := time.Now()
	s.webhook(t, messageItem(contact, now, "e2e-in-1", "Do you have it in blue?"))
	conv := s.waitConversation(t, contact)

	status, raw := s.do(t, http.MethodPost, "/api/conversations/"+conv+"/messages", map[string]any{
		"text": "Yes! Two photos:",
		"attachments": []map[string]string{
			{"type": "image", "url": "https://cdn.example.com/blue-1.jpg"},
			{"type": "image", "url": "https://cdn.example.com/blue-2.jpg"},
		},
	})
	if status != http.StatusAccepted {
		t.Fatalf("reply: %d %s", status, raw)
	}
	sentAt := time.Now()
	var accepted struct {
		Messages []api.MessageJSON `json:"messages"`
	}
	if err := json.Unmarshal(raw, &accepted); err != nil {
		t.Fatalf("reply body %s: %v", raw, err)
	}
	recs := accepted.Messages
	if len(recs) != 3 {
		t.Fatalf("reply: %d records, want 3: %s", len(recs), raw)
	}
	ids := map[string]bool{}
	for i, r := range recs {
		if r.Direction != "outgoing" || r.Status != "queued" || r.ID == "" || ids[r.ID] {
			t.Errorf("record %d = %+v: want a distinct queued outgoing record", i, r)
		}
		ids[r.ID] = true
	}
	if recs[0].Text != "Yes! Two photos:" || len(recs[0].Attachments) != 0 ||
		len(recs[1].Attachments) != 1 || recs[1].Attachments[0].URL != "https://cdn.example.com/blue-1.jpg" ||
		len(recs[2].Attachments) != 1 || recs[2].Attachments[0].URL != "https://cdn.example.com/blue-2.jpg" {
		t.Errorf("records not text then attachments in order: %+v", recs)
	}

	// Within seconds all 3 are sent, each with its own mid.
	var out []api.MessageJSON
	s.waitFor(t, 15*time.Second, "the 3 parts to be sent", func() (bool, string) {
		out = outgoingOf(s.messages(t, conv))
		sent := 0
		for _, m := range out {
			if m.Status == "failed" {
				t.Fatalf("part failed: %+v", m)
			}
			if ids[m.ID] && m.Status == "sent" && m.MID != "" {
				sent++
			}
		}
		return sent == 3, fmt.Sprintf("%d sent: %+v", sent, out)
	})
	t.Logf("3 parts sent %s after the 202", time.Since(sentAt).Round(time.Millisecond))
	mids := map[string]bool{}
	for _, m := range out {
		mids[m.MID] = true
	}
	if len(mids) != 3 {
		t.Errorf("mids not distinct: %+v", out)
	}

	// The simulator echoes each send back through the webhook: still exactly 3 outgoing.
	s.waitFor(t, 15*time.Second, "the 3 echoes to be processed", func() (bool, string) {
		n := s.logs.count(func(l string) bool {
			return isEventHandled(l) && logField(l, "kind", "echo") && logField(l, "group", e2eAccount+":"+contact)
		})
		return n >= 3, fmt.Sprintf("%d echoes handled", n)
	})
	s.waitIdle(t)
	all := s.messages(t, conv)
	out = outgoingOf(all)
	if len(all) != 4 || len(out) != 3 {
		t.Errorf("after the echoes: %d messages, %d outgoing; want 4 and 3: %+v", len(all), len(out), all)
	}
	for _, m := range out {
		if !ids[m.ID] || m.Echo || !mids[m.MID] || m.Status != "sent" {
			t.Errorf("outgoing %+v: want one of the 3 sent records, not an echo record", m)
		}
	}
	if n := s.simSent(t, contact); n != 3 {
		t.Errorf("simulator accepted %d sends to %s, want 3", n, contact)
	}

	// A read receipt (signed webhook) up to the last part turns all 3 read.
	s.webhook(t, map[string]any{
		"sender": map[string]any{"id": contact}, "recipient": map[string]any{"id": e2eAccount},
		"timestamp": time.Now().UnixMilli(), "read": map[string]any{"mid": out[len(out)-1].MID},
	})
	s.waitFor(t, 15*time.Second, "the 3 parts to be read", func() (bool, string) {
		out = outgoingOf(s.messages(t, conv))
		read := 0
		for _, m := range out {
			if m.Status == "read" {
				read++
			}
		}
		return read == 3 && len(out) == 3, fmt.Sprintf("%+v", out)
	})

	// A contact whose last message is 8 days old: refused (422 outside_window), or accepted
	// and then failed with the window reason; never sent.
	s.webhook(t, messageItem(old, time.Now().Add(-8*24*time.Hour), "e2e-old-1", "hello?"))
	oldConv := s.waitConversation(t, old)
	status, raw = s.do(t, http.MethodPost, "/api/conversations/"+oldConv+"/messages", map[string]any{"text": "Sorry for the delay"})
	t.Logf("reply 8 days after the contact's last message: %d %s", status, raw)
	switch status {
	case http.StatusUnprocessableEntity:
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || e.Error.Code != "outside_window" || e.Error.Message == "" {
			t.Errorf("422 body %s: want error code outside_window with a message", raw)
		}
	case http.StatusAccepted:
		s.waitFor(t, 15*time.Second, "the out-of-window part to fail", func() (bool, string) {
			out := outgoingOf(s.messages(t, oldConv))
			return len(out) == 1 && out[0].Status == "failed" && out[0].Error != nil && strings.Contains(out[0].Error.Message, "window"),
				fmt.Sprintf("%+v", out)
		})
	default:
		t.Errorf("reply 8 days after the last message: %d %s; want 422 outside_window (or 202 then failed)", status, raw)
	}
	s.waitIdle(t)
	if n := s.simSent(t, old); n != 0 {
		t.Errorf("simulator accepted %d sends to the out-of-window contact", n)
	}
}

// ---------------------------------------------------------------- token refresh

// revokedAccount is connected by testRefresher and then revoked at the simulator.
const revokedAccount = "17841400000000002"

func testRefresher(t *testing.T, s *stack) {
	before := s.channels(t)
	dev, ok := before[e2eAccount]
	if !ok || dev.ReauthRequired {
		t.Fatalf("dev channel before the run: %+v (present %v)", dev, ok)
	}
	devExpiry := parseTime(t, "dev token_expires_at", dev.TokenExpiresAt)

	// A second account, connected like a browser would with the simulator's sim_account.
	status, raw := s.do(t, http.MethodPost, "/api/channels/connect", map[string]any{})
	var connect struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(raw, &connect); status != http.StatusOK || err != nil || connect.URL == "" {
		t.Fatalf("POST /api/channels/connect: %d %s", status, raw)
	}
	resp, err := s.client.Get(connect.URL + "&sim_account=" + revokedAccount)
	if err != nil {
		t.Fatalf("following the connect url: %v", redactError(err))
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got := resp.Request.URL.Query().Get("connected"); resp.StatusCode != http.StatusOK || got != revokedAccount {
		t.Fatalf("connect flow landed on %s (status %d, connected=%q), want connected=%s",
			resp.Request.URL.Path, resp.StatusCode, got, revokedAccount)
	}
	if ch, ok := s.channels(t)[revokedAccount]; !ok || ch.ReauthRequired {
		t.Fatalf("second channel after connect: %+v (present %v)", ch, ok)
	}

	// REFRESH_MIN_AGE=1s, and token_expires_at has a resolution of a second.
	time.Sleep(1100 * time.Millisecond)
	refreshes := s.simState(t).Requests["GET /refresh_access_token"]
	if status, raw := s.post(t, s.simURL+"/_sim/revoke", map[string]string{"account_id": revokedAccount}); status != http.StatusOK {
		t.Fatalf("POST /_sim/revoke: %d %s", status, raw)
	}

	ran := time.Now()
	status, raw = s.post(t, s.base+"/_local/schedule/RefresherFunction", nil)
	if status != http.StatusOK {
		t.Fatalf("POST /_local/schedule/RefresherFunction: %d %s", status, raw)
	}
	t.Logf("refresher run: %s", raw)
	var sum struct{ Due, Refreshed, Failed, Flagged, Conflicts int }
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatalf("refresher summary %s: %v", raw, err)
	}
	if sum.Due != 2 || sum.Refreshed != 1 || sum.Flagged != 1 || sum.Failed != 0 || sum.Conflicts != 0 {
		t.Errorf("refresher summary %+v, want 2 due, 1 refreshed, 1 flagged", sum)
	}

	after := s.channels(t)
	dev = after[e2eAccount]
	if dev.ReauthRequired || dev.ReauthReason != "" {
		t.Errorf("dev channel after the run: %+v, want no reauth_required", dev)
	}
	expiry := parseTime(t, "dev token_expires_at after the run", dev.TokenExpiresAt)
	wantExpiry := ran.Add(60 * 24 * time.Hour)
	if !expiry.After(devExpiry) {
		t.Errorf("dev token_expires_at %s did not move forward from %s", dev.TokenExpiresAt, devExpiry.Format(time.RFC3339))
	}
	if d := expiry.Sub(wantExpiry); d < -time.Minute || d > time.Minute {
		t.Errorf("dev token_expires_at %s, want about %s (60 days after the run)", dev.TokenExpiresAt, wantExpiry.UTC().Format(time.RFC3339))
	}
	dead, ok := after[revokedAccount]
	if !ok || !dead.ReauthRequired || dead.ReauthReason == "" || dead.ReauthAt == nil {
		t.Errorf("revoked channel after the run: %+v (present %v), want reauth_required with a reason and a time", dead, ok)
	}

	st := s.simState(t)
	if n := st.Requests["GET /refresh_access_token"] - refreshes; n != 2 {
		t.Errorf("simulator answered %d refresh requests during the run, want 2 (one refreshed, one revoked)", n)
	}
	if !slices.Contains(st.Revoked, revokedAccount) {
		t.Errorf("simulator state: revoked = %v, want %s", st.Revoked, revokedAccount)
	}
}

// channels reads GET /api/channels by account id.
func (s *stack) channels(t *testing.T) map[string]api.ChannelJSON {
	t.Helper()
	status, raw := s.do(t, http.MethodGet, "/api/channels", nil)
	var body struct {
		Channels []api.ChannelJSON `json:"channels"`
	}
	if err := json.Unmarshal(raw, &body); status != http.StatusOK || err != nil {
		t.Fatalf("GET /api/channels: %d %s", status, raw)
	}
	out := map[string]api.ChannelJSON{}
	for _, c := range body.Channels {
		out[c.ID] = c
	}
	return out
}

// post sends an unauthenticated JSON POST (nil body: none) to a full URL.
func (s *stack) post(t *testing.T, url string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	resp, err := s.client.Post(url, "application/json", rd)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return resp.StatusCode, raw
}

// simState is the simulator's GET /_sim/state.
func (s *stack) simState(t *testing.T) metasim.State {
	t.Helper()
	resp, err := s.client.Get(s.simURL + "/_sim/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st metasim.State
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /_sim/state: %d %v", resp.StatusCode, err)
	}
	return st
}

func parseTime(t *testing.T, what, v string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, v)
	if err != nil {
		t.Fatalf("%s %q: %v", what, v, err)
	}
	return ts
}

func messageItem(igsid string, at time.Time, midSuffix, text string) map[string]any {
	return map[string]any{
		"sender": map[string]any{"id": igsid}, "recipient": map[string]any{"id": e2eAccount},
		"timestamp": at.UnixMilli(),
		"message":   map[string]any{"mid": "aWdfbWVzc2FnZV9pdGVtOjE6e2e-" + igsid + "-" + midSuffix, "text": text},
	}
}

func outgoingOf(ms []api.MessageJSON) []api.MessageJSON {
	var out []api.MessageJSON
	for _, m := range ms {
		if m.Direction == "outgoing" {
			out = append(out, m)
		}
	}
	return out
}

// logField reports whether a log line (text key=value or JSON) has key = value.
func logField(line, key, value string) bool {
	return strings.Contains(line, " "+key+"="+value+" ") || strings.HasSuffix(line, " "+key+"="+value) ||
		strings.Contains(line, `"`+key+`":"`+value+`"`)
}

// ---------------------------------------------------------------- the stack

type stack struct {
	base      string
	simURL    string
	sqs       *sqs.Client
	eventsURL string
	dlqURL    string
	client    *http.Client
	logs      *lineLog
}

// startStack builds and starts the devstack on free ports and waits until the dev channel is
// connected; it is stopped with SIGINT when the test ends.
func startStack(t *testing.T) *stack {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "devstack")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/devstack").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	port, err := emulator.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	// Every token is due for the refresher (it runs only on demand: its schedule is 6 hours),
	// once a second old.
	cmd.Env = append(stackEnv(os.Environ()), "PORT="+strconv.Itoa(port), "INSTAGRAM_APP_SECRET="+e2eAppSecret,
		"API_TOKEN="+e2eAPIToken, "INSTAGRAM_VERIFY_TOKEN="+e2eVerifyToken, "DEV_INSTAGRAM_ACCOUNT_ID="+e2eAccount,
		"TOKEN_REFRESH_HORIZON=1440h", "REFRESH_MIN_AGE=1s", "PURGE_SETTLE=2s")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &lineLog{}
	ready := make(chan struct{})
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		signalled := false
		for sc.Scan() {
			logs.add(sc.Text())
			if !signalled && strings.Contains(sc.Text(), "Ctrl-C stops everything") {
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	exited := make(chan struct{})
	var exitErr error
	go func() { <-logDone; exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("devstack still running 20 s after SIGINT")
		}
	})
	select {
	case <-ready:
	case <-exited:
		t.Fatalf("devstack exited at start (%v):\n%s", exitErr, logs.tail(100))
	case <-time.After(3 * time.Minute):
		t.Fatalf("not ready after 3 minutes:\n%s", logs.tail(100))
	}

	s := &stack{base: "http://127.0.0.1:" + strconv.Itoa(port), client: &http.Client{Timeout: 30 * time.Second}, logs: logs}
	var sqsEndpoint string
	for _, l := range logs.all() {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "graph api: "):
			s.simURL = strings.TrimPrefix(l, "graph api: ")
		case strings.HasPrefix(l, "AWS_ENDPOINT_URL_SQS="):
			sqsEndpoint = strings.TrimPrefix(l, "AWS_ENDPOINT_URL_SQS=")
		case strings.HasPrefix(l, "queue EventsQueue: "):
			s.eventsURL = strings.TrimPrefix(l, "queue EventsQueue: ")
		case strings.HasPrefix(l, "queue EventsDLQ: "):
			s.dlqURL = strings.TrimPrefix(l, "queue EventsDLQ: ")
		}
	}
	if s.simURL == "" || sqsEndpoint == "" || s.eventsURL == "" || s.dlqURL == "" {
		t.Fatalf("banner lacks the simulator, SQS endpoint or queues:\n%s", logs.tail(100))
	}
	s.sqs = sqs.New(sqs.Options{Region: emulator.Region, BaseEndpoint: aws.String(sqsEndpoint), Credentials: emulator.Credentials()})
	s.waitFor(t, 30*time.Second, "the dev channel to be connected", func() (bool, string) {
		var body struct {
			Channels []struct {
				ID             string `json:"id"`
				ReauthRequired bool   `json:"reauth_required"`
			} `json:"channels"`
		}
		status, raw := s.do(t, http.MethodGet, "/api/channels", nil)
		if status != http.StatusOK || json.Unmarshal(raw, &body) != nil {
			return false, fmt.Sprintf("GET /api/channels: %d %s", status, raw)
		}
		for _, c := range body.Channels {
			if c.ID == e2eAccount && !c.ReauthRequired {
				return true, ""
			}
		}
		return false, string(raw)
	})
	return s
}

// stackEnv drops the variables that would point the stack elsewhere or change what the test
// expects (the test sets its own).
func stackEnv(env []string) []string {
	drop := []string{"PORT", "DDB_PORT", "SQS_PORT", "GRAPH_API_URL", "DEV_INSTAGRAM_ACCOUNT_ID", "INSTAGRAM_APP_SECRET",
		"API_TOKEN", "INSTAGRAM_VERIFY_TOKEN", "HUMAN_AGENT_ENABLED", "SEND_ECHO_GRACE", "FRONTEND_URL", "PUBLIC_BASE_URL", "STAGE",
		"TOKEN_REFRESH_HORIZON", "REFRESH_MIN_AGE", "REFRESH_CONCURRENCY", "PURGE_SETTLE", "MESSAGE_RETENTION_DAYS"}
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if slices.Contains(drop, k) || strings.HasPrefix(k, "AWS_ENDPOINT_URL") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// do sends an authenticated API request with a JSON body (nil: none).
func (s *stack) do(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e2eAPIToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, raw
}

// replay runs the replay command in-process against the stack's webhook.
func (s *stack) replay(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cli := replay.CLI{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string {
		if k == replay.SecretEnv {
			return e2eAppSecret
		}
		return ""
	}}
	all := append([]string{"--url", s.base + "/webhooks/instagram", "--quiet", "--backoff", "100ms"}, args...)
	if code := cli.Run(context.Background(), all); code != replay.ExitOK {
		t.Fatalf("replay %v: exit %d\n%s%s", args, code, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// webhook delivers one messaging item for the dev account, signed, as Meta would.
func (s *stack) webhook(t *testing.T, item map[string]any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"object": "instagram", "entry": []any{map[string]any{
		"time": time.Now().UnixMilli(), "id": e2eAccount, "messaging": []any{item},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	sender := &replay.Sender{URL: s.base + "/webhooks/instagram", Secret: []byte(e2eAppSecret), Retries: 3, Backoff: 100 * time.Millisecond, Concurrency: 1}
	res := sender.Send(context.Background(), []replay.Delivery{{Body: &replay.Body{Source: "e2e", Data: body, Events: 1}, Round: 1}})
	if !res[0].OK {
		t.Fatalf("webhook: %s", res[0].Reason)
	}
}

// simSent is how many sends to igsid the simulator accepted (GET /_sim/state).
func (s *stack) simSent(t *testing.T, igsid string) int {
	t.Helper()
	resp, err := s.client.Get(s.simURL + "/_sim/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Sent map[string]int `json:"sent"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /_sim/state: %d %v", resp.StatusCode, err)
	}
	return st.Sent[igsid]
}

// depth is the number of messages in a queue: visible, in flight and delayed.
func (s *stack) depth(t *testing.T, queueURL string) int {
	t.Helper()
	n, err := sqspoll.Depth(context.Background(), s.sqs, queueURL)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (s *stack) waitFor(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s\ndevstack output (last lines):\n%s", limit, what, detail, s.logs.tail(60))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitIdle waits until the processor is idle: the events queue is empty and the state read
// through the API did not change between two polls; it returns that state.
func (s *stack) waitIdle(t *testing.T) snapshot {
	t.Helper()
	var prev, cur snapshot
	s.waitFor(t, 60*time.Second, "the processor to be idle", func() (bool, string) {
		if n := s.depth(t, s.eventsURL); n != 0 {
			prev = snapshot{}
			return false, fmt.Sprintf("%d messages in the events queue", n)
		}
		cur = s.snapshot(t)
		stable := prev.JSON != "" && cur.JSON == prev.JSON
		prev = cur
		return stable && s.depth(t, s.eventsURL) == 0, "state still changing"
	})
	return cur
}

// ---------------------------------------------------------------- snapshots

// snapshot is every conversation and every message, read through the API (paging with small
// pages so that cursors are exercised). JSON is the canonical form compared between runs: every
// field of every response, keys sorted.
type snapshot struct {
	JSON  string
	Convs []convView
}

type convView struct {
	api.ConversationJSON
	Messages []api.MessageJSON
}

func (sn snapshot) message(mid string) (api.MessageJSON, bool) {
	for _, c := range sn.Convs {
		for _, m := range c.Messages {
			if m.MID == mid {
				return m, true
			}
		}
	}
	return api.MessageJSON{}, false
}

func (s *stack) snapshot(t *testing.T) snapshot {
	t.Helper()
	var canon []any
	var sn snapshot
	for _, raw := range s.pages(t, "/api/conversations?limit=2", "conversations") {
		var c api.ConversationJSON
		var generic map[string]any
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &generic); err != nil {
			t.Fatal(err)
		}
		view := convView{ConversationJSON: c}
		var msgs []any
		for _, mraw := range s.pages(t, "/api/conversations/"+url.PathEscape(c.ID)+"/messages?limit=7", "messages") {
			var m api.MessageJSON
			var mg map[string]any
			if err := json.Unmarshal(mraw, &m); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(mraw, &mg); err != nil {
				t.Fatal(err)
			}
			view.Messages = append(view.Messages, m)
			msgs = append(msgs, mg)
		}
		sn.Convs = append(sn.Convs, view)
		canon = append(canon, map[string]any{"conversation": generic, "messages": msgs})
	}
	b, err := json.MarshalIndent(canon, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	sn.JSON = string(b)
	return sn
}

// pages follows next_cursor and returns the items of every page.
func (s *stack) pages(t *testing.T, path, field string) []json.RawMessage {
	t.Helper()
	var items []json.RawMessage
	cursor := ""
	for range 1000 {
		p := path
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		status, raw := s.do(t, http.MethodGet, p, nil)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", p, status, raw)
		}
		var page map[string]json.RawMessage
		if err := json.Unmarshal(raw, &page); err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		var list []json.RawMessage
		if err := json.Unmarshal(page[field], &list); err != nil {
			t.Fatalf("GET %s: %q: %v", p, field, err)
		}
		items = append(items, list...)
		cursor = ""
		if next, ok := page["next_cursor"]; ok {
			if err := json.Unmarshal(next, &cursor); err != nil {
				t.Fatalf("GET %s: next_cursor: %v", p, err)
			}
		}
		if cursor == "" {
			return items
		}
	}
	t.Fatalf("GET %s: more than 1000 pages", path)
	return nil
}

func (s *stack) messages(t *testing.T, conv string) []api.MessageJSON {
	t.Helper()
	var out []api.MessageJSON
	for _, raw := range s.pages(t, "/api/conversations/"+url.PathEscape(conv)+"/messages?limit=200", "messages") {
		var m api.MessageJSON
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// waitConversation waits for the conversation with igsid and returns its id.
func (s *stack) waitConversation(t *testing.T, igsid string) string {
	t.Helper()
	var id string
	s.waitFor(t, 15*time.Second, "a conversation with "+igsid, func() (bool, string) {
		for _, raw := range s.pages(t, "/api/conversations?limit=200", "conversations") {
			var c api.ConversationJSON
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			if c.Contact.IGSID == igsid {
				id = c.ID
				return true, ""
			}
		}
		return false, "not listed"
	})
	return id
}

// ---------------------------------------------------------------- fixtures

func fixtureFiles(t *testing.T) []string {
	t.Helper()
	bodies, err := replay.Load([]string{metaDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, b := range bodies {
		files = append(files, b.Source)
	}
	sort.Strings(files)
	if len(files) < 20 {
		t.Fatalf("only %d bodies in %s", len(files), metaDir)
	}
	return files
}

func fixtureEvents(t *testing.T, files []string) int {
	t.Helper()
	bodies, err := replay.Load(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range bodies {
		n += b.Events
	}
	return n
}

type fixtureMessaging struct {
	Message *struct {
		MID         string `json:"mid"`
		Attachments []struct {
			Type    string `json:"type"`
			Payload struct {
				URL string `json:"url"`
			} `json:"payload"`
		} `json:"attachments"`
	} `json:"message"`
	Postback *struct {
		MID string `json:"mid"`
	} `json:"postback"`
}

// fixtureItem is the first messaging (or standby) item of events/meta/<name>.
func fixtureItem(t *testing.T, name string) fixtureMessaging {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(metaDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Entry []struct {
			Messaging []fixtureMessaging `json:"messaging"`
			Standby   []fixtureMessaging `json:"standby"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	items := append(body.Entry[0].Messaging, body.Entry[0].Standby...)
	if len(items) == 0 {
		t.Fatalf("%s has no messaging item", name)
	}
	return items[0]
}

// fixtureMID is the mid of the first item of events/meta/<name> (message or postback).
func fixtureMID(t *testing.T, name string) string {
	t.Helper()
	it := fixtureItem(t, name)
	switch {
	case it.Message != nil && it.Message.MID != "":
		return it.Message.MID
	case it.Postback != nil && it.Postback.MID != "":
		return it.Postback.MID
	}
	t.Fatalf("%s: no mid", name)
	return ""
}

func short(mid string) string {
	if len(mid) > 16 {
		return "…" + mid[len(mid)-16:]
	}
	return mid
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// diffLines shows the lines that differ between two snapshots.
func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	n := max(len(al), len(bl))
	shown := 0
	for i := 0; i < n && shown < 40; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			fmt.Fprintf(&out, "line %d:\n  - %s\n  + %s\n", i+1, x, y)
			shown++
		}
	}
	if shown == 0 {
		return "(no line differs)"
	}
	return out.String()
}

// ---------------------------------------------------------------- logs

// lineLog keeps every line the stack printed.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

func (l *lineLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

func (l *lineLog) count(match func(string) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if match(s) {
			n++
		}
	}
	return n
}

func (l *lineLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines[max(0, len(l.lines)-n):], "\n")
}
