package inbox_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/inbox"
)

// conversationTimes reads a conversation's status and times, and its contact's mirror.
func (f *fixture) conversationTimes(id string) (domain.Conversation, domain.Contact) {
	f.t.Helper()
	ctx := context.Background()
	cv, err := f.st.GetConversation(ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	c, err := f.st.GetContact(ctx, cv.ChannelID, cv.ContactIGSID)
	if err != nil {
		f.t.Fatal(err)
	}
	return cv, c
}

// mids lists the mids of a conversation's messages, in order.
func (f *fixture) mids(conv string) []string {
	var out []string
	for _, m := range f.messages(conv) {
		out = append(out, m.MID)
	}
	return out
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAppendWithoutReadGuards: a message written without a read lands only in the contact's
// open conversation, never moves its times back, and leaves the contact alone; an older
// message is appended again with what the refusal returned; a resolved conversation refuses,
// and the message opens a new conversation as after a read.
func TestAppendWithoutReadGuards(t *testing.T) {
	t.Parallel()
	f, meter := meteredFixture(t)
	const c = "4101"
	ctx := context.Background()
	f.handle(text(c, ms(time.Second), mid("g1"), "first 😂"))
	conv := f.onlyConversation(c).ID
	_, before := f.conversationTimes(conv)

	step := func(name string, item obj, wantOps map[string]int) {
		t.Helper()
		meter.Reset()
		f.handle(item)
		got := meter.Snapshot()["message"].Ops
		for op, n := range wantOps {
			if got[op] != n {
				t.Errorf("%s: operations %v, want %v", name, got, wantOps)
				return
			}
		}
		if len(got) != len(wantOps) {
			t.Errorf("%s: operations %v, want %v", name, got, wantOps)
		}
	}

	step("newer", text(c, ms(3*time.Second), mid("g3"), "three \u202eRTL"), map[string]int{"TransactWriteItems": 1})
	cv, ct := f.conversationTimes(conv)
	if cv.LastActivityMS != ms(3*time.Second) || cv.LastIncomingMS != ms(3*time.Second) {
		t.Errorf("after a newer message: %+v", cv)
	}
	if ct.Ver != before.Ver || ct.ConvLastActivityMS != ms(time.Second) {
		t.Errorf("the contact was written by an append: %+v, before %+v", ct, before)
	}

	// Older than the conversation's activity: refused, then appended leaving the times alone.
	step("older", text(c, ms(2*time.Second), mid("g2"), "two"), map[string]int{"TransactWriteItems": 2})
	cv, _ = f.conversationTimes(conv)
	if cv.LastActivityMS != ms(3*time.Second) || cv.LastIncomingMS != ms(3*time.Second) {
		t.Errorf("an older message moved the conversation back: %+v", cv)
	}
	if got, want := f.mids(conv), []string{mid("g1"), mid("g2"), mid("g3")}; !sameStrings(got, want) {
		t.Errorf("messages %v, want %v", got, want)
	}

	// Resolved while the container remembers it open: the append is refused, and the message
	// opens a new conversation (refused write, read, transaction).
	if _, err := f.st.SetConversationStatus(ctx, conv, domain.StatusResolved, nil, t0); err != nil {
		t.Fatal(err)
	}
	step("after a resolve", text(c, ms(4*time.Second), mid("g4"), "four"), map[string]int{"TransactWriteItems": 2, "BatchGetItem": 1})
	cv, _ = f.conversationTimes(conv)
	if cv.Status != domain.StatusResolved || cv.LastActivityMS != ms(3*time.Second) {
		t.Errorf("resolved conversation after a later message: %+v", cv)
	}
	if got := f.mids(conv); len(got) != 3 {
		t.Errorf("a message landed in the resolved conversation: %v", got)
	}
	newest := inbox.ConversationID(acct, c, 2)
	if got := f.mids(newest); !sameStrings(got, []string{mid("g4")}) {
		t.Errorf("new conversation holds %v, want the later message", got)
	}
	if cv2, ct := f.conversationTimes(newest); cv2.Status != domain.StatusOpen || ct.OpenConversationID != newest {
		t.Errorf("new conversation %+v, contact %+v", cv2, ct)
	}
}

// TestReadAfterAppendsDoesNotMoveActivityBack: after messages appended without a read the
// contact's mirror lags its conversation; an older message decided from a read (the container
// forgot the conversation) is refused by the conversation's own times and decided again with
// them, without another read: the activity never moves back, and the mirror catches up.
func TestReadAfterAppendsDoesNotMoveActivityBack(t *testing.T) {
	t.Parallel()
	f, meter := meteredFixture(t)
	const c = "4102"
	f.handle(text(c, ms(time.Second), mid("r1"), "one"))
	f.handle(text(c, ms(10*time.Second), mid("r10"), "ten")) // appended: the mirror stays at 1 s
	conv := f.onlyConversation(c).ID
	if _, ct := f.conversationTimes(conv); ct.ConvLastActivityMS != ms(time.Second) {
		t.Fatalf("mirror %d, want the first message's time", ct.ConvLastActivityMS)
	}
	f.advance(10 * time.Minute) // the open conversation is forgotten: the next message reads
	meter.Reset()
	f.handle(text(c, ms(5*time.Second), mid("r5"), "five"))
	if ops := meter.Snapshot()["message"].Ops; ops["BatchGetItem"] != 1 || ops["TransactWriteItems"] != 2 || len(ops) != 2 {
		t.Errorf("operations %v, want a read, a refused transaction and the one decided again", ops)
	}
	cv, ct := f.conversationTimes(conv)
	if cv.LastActivityMS != ms(10*time.Second) || cv.LastIncomingMS != ms(10*time.Second) {
		t.Errorf("activity moved back: %+v", cv)
	}
	if ct.ConvLastActivityMS != ms(10*time.Second) || ct.ConvLastIncomingMS != ms(10*time.Second) {
		t.Errorf("mirror after a read and write: %d/%d, want the conversation's", ct.ConvLastActivityMS, ct.ConvLastIncomingMS)
	}
	if got, want := f.mids(conv), []string{mid("r1"), mid("r5"), mid("r10")}; !sameStrings(got, want) {
		t.Errorf("messages %v, want %v", got, want)
	}
	// A later message decided from a read moves it forward as before.
	f.advance(10 * time.Minute)
	f.handle(text(c, ms(20*time.Second), mid("r20"), "twenty"))
	if cv, ct := f.conversationTimes(conv); cv.LastActivityMS != ms(20*time.Second) || ct.ConvLastIncomingMS != ms(20*time.Second) {
		t.Errorf("after a later message: %+v %+v", cv, ct)
	}
}

// TestAppendRacesResolve: a resolve through the API and an append without a read race; in
// every run the message is stored once, at most one conversation of the contact is open, a
// conversation resolved before the message is never written to, and no activity moves back.
func TestAppendRacesResolve(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	const c = "4103"
	f.handle(text(c, ms(time.Second), mid("x0"), "start"))
	for i := 1; i <= 8; i++ {
		open := f.contactConversations(c)[0].ID
		for _, cv := range f.contactConversations(c) {
			if cv.Status == domain.StatusOpen {
				open = cv.ID
			}
		}
		f.handle(text(c, ms(time.Duration(2*i)*time.Second), mid("w"+string(rune('a'+i))), "warm")) // remembered
		before, _ := f.conversationTimes(open)
		var (
			wg       sync.WaitGroup
			resolved domain.Conversation
			rerr     error
		)
		wg.Add(1)
		go func() {
			defer wg.Done()
			resolved, rerr = f.st.SetConversationStatus(ctx, open, domain.StatusResolved, nil, t0)
		}()
		m := mid("x" + string(rune('a'+i)))
		f.handle(text(c, ms(time.Duration(2*i+1)*time.Second), m, "racing"))
		wg.Wait()
		if rerr != nil {
			t.Fatalf("run %d: resolve: %v", i, rerr)
		}
		after, _ := f.conversationTimes(open)
		if after.Status != domain.StatusResolved || resolved.Status != domain.StatusResolved {
			t.Fatalf("run %d: not resolved: %+v", i, after)
		}
		inResolved := false
		for _, x := range f.mids(open) {
			inResolved = inResolved || x == m
		}
		// In the resolved conversation only if it was appended before the resolve: then the
		// activity moved to it; otherwise the conversation is as before.
		if inResolved && after.LastActivityMS != ms(time.Duration(2*i+1)*time.Second) {
			t.Errorf("run %d: message in the resolved conversation without its activity: %+v", i, after)
		}
		if !inResolved && after.LastActivityMS != before.LastActivityMS {
			t.Errorf("run %d: resolved conversation written after its resolve: %+v, before %+v", i, after, before)
		}
		count, opens := 0, 0
		for _, cv := range f.contactConversations(c) {
			if cv.Status == domain.StatusOpen {
				opens++
			}
			for _, x := range f.mids(cv.ID) {
				if x == m {
					count++
				}
			}
		}
		if count != 1 || opens > 1 {
			t.Fatalf("run %d: message stored %d times, %d open conversations", i, count, opens)
		}
		if opens == 0 {
			// Appended before the resolve: the next message opens a conversation.
			f.handle(text(c, ms(time.Duration(2*i+1)*time.Second+500*time.Millisecond), mid("y"+string(rune('a'+i))), "again"))
		}
	}
}
