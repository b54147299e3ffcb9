package domain_test

import (
	"fmt"
	"testing"

	"github.com/iginbox/iginbox/shared/domain"
)

// Stored ids and keys depend on these byte for byte: a change here renames stored items.
func TestIDsAndKeysAreStable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ got, want string }{
		{domain.HashID("17841400000000001", "3001", "1"), "0ae8202cffe683bf3ab8f455"},
		{domain.HashID(), "e3b0c44298fc1c149afbf4c8"},
		{domain.MessageSK(1795168801000, "m😂"), "MSG#1795168801000#m😂"},
		{domain.SentSK(5, "mid"), "MSG#0000000000005#mid"},
		{domain.OutgoingSK(5, "req", 3), "MSG#0000000000005#~out.req.03"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if ms := domain.MessageSKTime(domain.MessageSK(1795168801000, "x")); ms != 1795168801000 {
		t.Errorf("MessageSKTime = %d", ms)
	}
	for _, sk := range []string{"", "MSG#12", "CONV", "MSG#abcdefghijklm#x"} {
		if ms := domain.MessageSKTime(sk); ms != 0 {
			t.Errorf("MessageSKTime(%q) = %d, want 0", sk, ms)
		}
	}
	if !domain.ValidConversationID(domain.HashID("a")) || domain.ValidConversationID("../x") || domain.ValidConversationID(domain.HashID("a")+"0") {
		t.Error("ValidConversationID accepts or refuses the wrong ids")
	}
}

// Edits converge whatever the order they are added in: the highest num_edit is the text, the
// versions before it (starting with the original) are kept in order.
func TestEditsConverge(t *testing.T) {
	t.Parallel()
	e1 := domain.Edit{Text: "v1 \ufffe", NumEdit: 1, MS: 20}
	e2 := domain.Edit{Text: "v2 👟🏽 مرحبا", NumEdit: 2, MS: 30}
	var want string
	for _, order := range [][]domain.Edit{{e1, e2}, {e2, e1}, {e2, e1, e2}} {
		var edits []domain.Edit
		for _, e := range order {
			edits, _ = domain.AddEdit(edits, e)
		}
		if _, added := domain.AddEdit(edits, e1); added {
			t.Error("a known edit was added again")
		}
		m := domain.Message{Text: "v0", TimestampMS: 10}
		m.ApplyEdits(m.OriginalText(), edits)
		got := fmt.Sprintf("%q %v original=%q", m.Text, m.Edits, m.OriginalText())
		if want == "" {
			want = got
		} else if got != want {
			t.Errorf("order %v: %s, want %s", order, got, want)
		}
	}
	if want != "\"v2 👟🏽 مرحبا\" [{v0 0 10} {v1 \ufffe 1 20}] original=\"v0\"" {
		t.Errorf("converged on %s", want)
	}
}

// A Tx is data: the writes in order, and MarkSent names the key the sent part moves to.
func TestTxCollectsWrites(t *testing.T) {
	t.Parallel()
	var tx domain.Tx
	tx.PutContact(domain.Contact{IGSID: "1", Ver: 3})
	sk := tx.MarkSent(domain.OutgoingPart{}, 2, "mid", 7)
	tx.DeletePendingSend("a", "1", "sk", 2)
	if sk != domain.SentSK(7, "mid") || tx.Len() != 3 {
		t.Fatalf("sk %q, %d writes", sk, tx.Len())
	}
	w := tx.Writes()
	if c, ok := w[0].(domain.PutContact); !ok || c.Contact.Ver != 3 {
		t.Errorf("first write %#v", w[0])
	}
	if m, ok := w[1].(domain.MarkSent); !ok || m.Attempt != 2 || m.MID != "mid" || m.MS != 7 {
		t.Errorf("second write %#v", w[1])
	}
	if d, ok := w[2].(domain.DeletePendingSend); !ok || d.ChannelID != "a" || d.Attempt != 2 {
		t.Errorf("third write %#v", w[2])
	}
}
