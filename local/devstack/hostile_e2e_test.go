package devstack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"testing"

	"github.com/iginbox/iginbox/local/replay"
	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/api"
)

// Contacts of the hostile-character catalogue (events/hostile) and of its raw UTF-8 twin. Both
// end in 7: the simulator gives them a profile name with emoji, RTL and CJK.
const (
	hostileContact = "5550007770000017"
	hostileTwin    = "5550007770000027"
)

// testEveryCharacter (every character survives): every body of the catalogue, timestamps moved to now,
// is posted as Meta escapes it, again (a retry), and as raw UTF-8 for another contact; each
// value comes back through the API exactly, code point by code point, with one message per
// mid. Then a reply with emoji goes out, is echoed, and stays one message with its text.
func testEveryCharacter(t *testing.T, s *stack) {
	files, err := testenv.HostileFiles(filepath.Join("..", "..", "events"))
	if err != nil {
		t.Fatal(err)
	}
	var bodies []replay.Body
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, replay.Body{Source: filepath.Base(f), Data: b, Events: 1})
	}
	if _, err := replay.RewriteTimestamps(bodies, time.Now()); err != nil {
		t.Fatal(err)
	}
	var deliveries []replay.Delivery
	var exps []testenv.Expectation
	mids := map[string]bool{}
	for i := range bodies {
		raw, err := testenv.RawTwin(bodies[i].Data, hostileContact, hostileTwin, ".raw")
		if err != nil {
			t.Fatal(err)
		}
		twin := &replay.Body{Source: bodies[i].Source + " (raw UTF-8)", Data: raw, Events: 1}
		deliveries = append(deliveries, replay.Delivery{Body: &bodies[i], Round: 1}, replay.Delivery{Body: &bodies[i], Round: 2}, replay.Delivery{Body: twin, Round: 1})
		for _, b := range [][]byte{bodies[i].Data, raw} {
			e, err := testenv.HostileExpectations(b)
			if err != nil {
				t.Fatal(err)
			}
			exps = append(exps, e...)
			for _, x := range e {
				mids[x.MID] = true
			}
		}
	}
	sender := &replay.Sender{URL: s.base + "/webhooks/instagram", Secret: []byte(e2eAppSecret), Retries: 3, Backoff: 100 * time.Millisecond, Concurrency: 2}
	for _, r := range sender.Send(context.Background(), deliveries) {
		if !r.OK {
			t.Fatalf("webhook refused a catalogue body: %s", r.Reason)
		}
	}
	conv := s.waitConversation(t, hostileContact)
	s.waitConversation(t, hostileTwin)
	snap := s.waitIdle(t)

	byMID := map[string]api.MessageJSON{}
	perContact := map[string]int{}
	for _, c := range snap.Convs {
		for _, m := range c.Messages {
			if mids[m.MID] {
				byMID[m.MID] = m
				perContact[c.Contact.IGSID]++
			}
		}
		if c.Contact.IGSID == hostileContact || c.Contact.IGSID == hostileTwin {
			want := "Customer " + c.Contact.IGSID[len(c.Contact.IGSID)-4:] + " 👩🏽‍💻 José \u200fمرحبا 王"
			if d := testenv.CodePointDiff(c.Contact.Name, want); d != "" {
				t.Errorf("contact %s name: %s", c.Contact.IGSID, d)
			}
		}
	}
	if len(byMID) != len(mids) || perContact[hostileContact] != len(mids)/2 || perContact[hostileTwin] != len(mids)/2 {
		t.Errorf("%d messages (%v per contact), want one per mid: %d", len(byMID), perContact, len(mids))
	}
	problems := testenv.CheckHostile(testenv.JSONValues(t, byMID), exps)
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%d values of %d catalogue bodies checked code point by code point (escaped and raw UTF-8)", len(exps), len(bodies))

	// A reply with emoji, RTL and a noncharacter: sent, echoed by the simulator (escaped like
	// Meta), and still one message with exactly this text.
	const reply = "Obrigado! 👋🏽 👨‍👩‍👧 مرحبا\u200f 王 \ufffe"
	id := s.replyText(t, conv, reply)
	s.waitFor(t, 15*time.Second, "the echo of the reply", func() (bool, string) {
		n := s.logs.count(func(l string) bool {
			return isEventHandled(l) && logField(l, "kind", "echo") && logField(l, "group", e2eAccount+":"+hostileContact)
		})
		return n >= 1, fmt.Sprintf("%d echoes handled", n)
	})
	s.waitIdle(t)
	out := outgoingOf(s.messages(t, conv))
	if len(out) != 1 {
		t.Fatalf("%d outgoing messages after the echo, want 1: %+v", len(out), out)
	}
	m := out[0]
	if m.ID != id || m.Echo || m.Status != "sent" || m.MID == "" {
		t.Errorf("reply after its echo: %+v", m)
	}
	if d := testenv.CodePointDiff(m.Text, reply); d != "" {
		t.Errorf("reply text: %s", d)
	}
}
