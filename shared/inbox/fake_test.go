package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/inbox"
)

// memStore is an in-memory inbox.Store (and inbox.Channels) for deciding without DynamoDB. It
// applies a domain.Tx with the conditions each write type documents, all or nothing, and
// AppendToOpenConversation with the adapter's guards and refusals; the decisions suite runs
// against it and against the emulator-backed store, so that the two cannot drift apart.
//
// What a store read gives back is what a DynamoDB round trip would: copies (no aliasing
// between a decision and the state), empty lists and maps as nil, and a message's StoredSK
// set to the key it is stored under.
type memStore struct {
	mu            sync.Mutex
	channels      map[string]domain.Channel // with the access token
	contacts      map[domain.ContactRef]domain.Contact
	conversations map[string]domain.Conversation
	messages      map[string]map[string]domain.Message // conversation id → sort key → message
	mids          map[string]domain.MIDRecord          // account#mid
	unknown       map[string]domain.UnknownEvent
}

var (
	_ inbox.Store    = (*memStore)(nil)
	_ inbox.Channels = (*memStore)(nil)
)

func newMemStore() *memStore {
	return &memStore{
		channels:      map[string]domain.Channel{},
		contacts:      map[domain.ContactRef]domain.Contact{},
		conversations: map[string]domain.Conversation{},
		messages:      map[string]map[string]domain.Message{},
		mids:          map[string]domain.MIDRecord{},
		unknown:       map[string]domain.UnknownEvent{},
	}
}

func midRef(accountID, mid string) string { return accountID + "#" + mid }

// connect stores a connected channel.
func (s *memStore) connect(ch domain.Channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels[ch.ID] = ch
}

func (s *memStore) LoadEventState(_ context.Context, accountID, igsid, mid string) (domain.EventState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := domain.EventState{
		Contact: domain.Contact{ChannelID: accountID, IGSID: igsid},
		MID:     domain.MIDRecord{ChannelID: accountID, MID: mid},
	}
	st.Channel, st.ChannelFound = s.channels[accountID]
	if igsid != "" {
		if c, ok := s.contacts[domain.ContactRef{ChannelID: accountID, IGSID: igsid}]; ok {
			st.Contact = cloneContact(c)
		}
	}
	if mid != "" {
		if r, ok := s.mids[midRef(accountID, mid)]; ok {
			st.MID = cloneMID(r)
		}
	}
	return st, nil
}

func (s *memStore) GetMessage(_ context.Context, conversationID, messageSK string) (domain.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[conversationID][messageSK]
	if !ok {
		return domain.Message{}, fmt.Errorf("message %s/%s: %w", conversationID, messageSK, domain.ErrNotFound)
	}
	return cloneMessage(m), nil
}

func (s *memStore) PutUnknownEvent(_ context.Context, id string, e domain.UnknownEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unknown[e.ChannelID+"#"+id] = e
	return nil
}

// AdvanceReadWatermark creates the contact if needed; an equal or later watermark wins.
func (s *memStore) AdvanceReadWatermark(_ context.Context, accountID, igsid string, ts int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := domain.ContactRef{ChannelID: accountID, IGSID: igsid}
	c, ok := s.contacts[ref]
	if ok && c.ReadWatermarkMS != 0 && c.ReadWatermarkMS >= ts {
		return nil
	}
	if !ok {
		c = domain.Contact{}
	}
	c.ChannelID, c.IGSID, c.ReadWatermarkMS = accountID, igsid, ts
	c.Ver++
	s.contacts[ref] = c
	return nil
}

func (s *memStore) FlagReauth(_ context.Context, accountID, reason string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[accountID]
	if !ok {
		return fmt.Errorf("flag reauth %s: %w", accountID, domain.ErrNotFound)
	}
	ch.ReauthRequired, ch.ReauthReason, ch.ReauthAt = true, reason, at
	s.channels[accountID] = ch
	return nil
}

// memState is the part of the state a transaction writes; apply works on a copy of it.
type memState struct {
	contacts      map[domain.ContactRef]domain.Contact
	conversations map[string]domain.Conversation
	messages      map[string]map[string]domain.Message
	mids          map[string]domain.MIDRecord
}

func (s *memStore) snapshot() memState {
	msgs := make(map[string]map[string]domain.Message, len(s.messages))
	for k, v := range s.messages {
		msgs[k] = maps.Clone(v)
	}
	return memState{maps.Clone(s.contacts), maps.Clone(s.conversations), msgs, maps.Clone(s.mids)}
}

func (s *memStore) restore(st memState) {
	s.contacts, s.conversations, s.messages, s.mids = st.contacts, st.conversations, st.messages, st.mids
}

// Commit applies every write of tx, or none when one of their conditions does not hold.
func (s *memStore) Commit(_ context.Context, tx *domain.Tx) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tx.Len() == 0 {
		return nil
	}
	// Every write's condition is checked (against the state before the transaction: a
	// transaction writes an item once), so that a refusal tells whether the conversation's
	// times were the only condition lost, as the adapter does.
	st := s.snapshot()
	var (
		failed error
		ahead  *domain.ConversationAhead
		others int
	)
	for _, w := range tx.Writes() {
		err := st.apply(w)
		if a := (*domain.ConversationAhead)(nil); errors.As(err, &a) {
			ahead = a
		} else if err != nil {
			others++
		}
		if failed == nil {
			failed = err
		}
	}
	if ahead != nil {
		ahead.Alone = others == 0
		return fmt.Errorf("transaction: %w", ahead)
	}
	if failed != nil {
		return fmt.Errorf("transaction: %s: %w", failed, domain.ErrConflict)
	}
	s.restore(st)
	return nil
}

// apply applies one write to st, or returns why its condition does not hold.
func (st memState) apply(w domain.Write) error {
	switch w := w.(type) {
	case domain.PutContact:
		c := cloneContact(w.Contact)
		ref := domain.ContactRef{ChannelID: c.ChannelID, IGSID: c.IGSID}
		if old, ok := st.contacts[ref]; ok != (c.Ver != 0) || ok && old.Ver != c.Ver {
			return fmt.Errorf("contact %s is not at version %d", c.IGSID, c.Ver)
		}
		c.Ver++
		st.contacts[ref] = c
	case domain.CreateConversation:
		if _, ok := st.conversations[w.Conversation.ID]; ok {
			return fmt.Errorf("conversation %s exists", w.Conversation.ID)
		}
		c := w.Conversation
		c.Referral = cloneReferral(c.Referral)
		st.conversations[c.ID] = c
	case domain.UpdateConversation:
		ch := w.Change
		if ch.Status == "" && ch.LastActivityMS <= 0 && ch.LastIncomingMS <= 0 && ch.Referral == nil {
			return nil // nothing to write, so nothing checked
		}
		c, ok := st.conversations[ch.ID]
		if !ok {
			return fmt.Errorf("conversation %s does not exist", ch.ID)
		}
		if ch.LastActivityMS > 0 && c.LastActivityMS > ch.LastActivityMS || ch.LastIncomingMS > 0 && c.LastIncomingMS > ch.LastIncomingMS {
			return &domain.ConversationAhead{Conversation: c}
		}
		if ch.Status != "" {
			c.Status = ch.Status
		}
		if ch.LastActivityMS > 0 {
			c.LastActivityMS = ch.LastActivityMS
		}
		if ch.LastIncomingMS > 0 {
			c.LastIncomingMS = ch.LastIncomingMS
		}
		if ch.Referral != nil {
			c.Referral = cloneReferral(ch.Referral)
		}
		st.conversations[ch.ID] = c
	case domain.PutMessage:
		m := cloneMessage(w.Message)
		m.StoredSK = m.SK()
		if _, ok := st.messages[m.ConversationID][m.StoredSK]; ok {
			return fmt.Errorf("message %s exists", m.StoredSK)
		}
		if st.messages[m.ConversationID] == nil {
			st.messages[m.ConversationID] = map[string]domain.Message{}
		}
		st.messages[m.ConversationID][m.StoredSK] = m
	case domain.EraseMessage:
		m, ok := st.messages[w.ConversationID][w.MessageSK]
		if !ok {
			return fmt.Errorf("message %s does not exist", w.MessageSK)
		}
		m.Deleted = true
		m.Text, m.Attachments, m.ReplyTo, m.QuickReplyPayload, m.PostbackPayload, m.Referral, m.Edits = "", nil, nil, "", "", nil, nil
		st.messages[w.ConversationID][w.MessageSK] = m
	case domain.SetMessageText:
		m, ok := st.messages[w.ConversationID][w.MessageSK]
		if !ok || m.Deleted {
			return fmt.Errorf("message %s does not exist or is deleted", w.MessageSK)
		}
		m.Text, m.Edits = w.Text, cloneEdits(w.Edits)
		st.messages[w.ConversationID][w.MessageSK] = m
	case domain.SetMessageReactions:
		m, ok := st.messages[w.ConversationID][w.MessageSK]
		if !ok {
			return fmt.Errorf("message %s does not exist", w.MessageSK)
		}
		m.Reactions = nil
		if len(w.Reactions) > 0 {
			m.Reactions = slices.Clone(w.Reactions)
		}
		st.messages[w.ConversationID][w.MessageSK] = m
	case domain.PutMID:
		r := cloneMID(w.Record)
		ref := midRef(r.ChannelID, r.MID)
		if old, ok := st.mids[ref]; ok != (r.Ver != 0) || ok && old.Ver != r.Ver {
			return fmt.Errorf("mid %s is not at version %d", r.MID, r.Ver)
		}
		r.Ver++
		st.mids[ref] = r
	case domain.AdvanceConversationActivity:
		c, ok := st.conversations[w.ConversationID]
		if !ok || c.LastActivityMS >= w.MS {
			return fmt.Errorf("conversation %s does not exist or is not older", w.ConversationID)
		}
		c.LastActivityMS = w.MS
		st.conversations[w.ConversationID] = c
	default:
		// Reply parts (MarkSent, MarkFailed, …) are the sender's; the inbox never writes them.
		return fmt.Errorf("memStore does not apply %T", w)
	}
	return nil
}

// AppendToOpenConversation writes the per-mid record, the message and the conversation's
// times that m moves forward (all of them without seen), with the adapter's conditions: the
// mid and the message are new, the conversation is open and not later than m in the times
// it moves, the channel is active; the contact is not written. A refusal on the per-mid
// record or the conversation returns *domain.AppendRefused with what is stored, as the
// adapter does.
func (s *memStore) AppendToOpenConversation(_ context.Context, m domain.Message, seen *domain.Conversation) error {
	if m.ConversationID == "" || m.MID == "" {
		return fmt.Errorf("append message: conversation and mid are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var known domain.Conversation
	if seen != nil {
		known = *seen
	}
	change := domain.ConversationChange{ID: m.ConversationID}
	if m.TimestampMS >= known.LastActivityMS {
		change.LastActivityMS = m.TimestampMS
	}
	if m.Direction == domain.DirectionIncoming && m.TimestampMS >= known.LastIncomingMS {
		change.LastIncomingMS = m.TimestampMS
	}
	rec, midExists := s.mids[midRef(m.ChannelID, m.MID)]
	_, msgExists := s.messages[m.ConversationID][m.SK()]
	conv, convExists := s.conversations[m.ConversationID]
	convOK := convExists && conv.Status == domain.StatusOpen &&
		(change.LastActivityMS == 0 || conv.LastActivityMS <= m.TimestampMS) &&
		(change.LastIncomingMS == 0 || conv.LastIncomingMS <= m.TimestampMS)
	ch, chFound := s.channels[m.ChannelID]
	channelOK := chFound && !ch.Disconnected()

	if !midExists && !msgExists && convOK && channelOK {
		var tx domain.Tx
		tx.PutMID(domain.MIDRecord{ChannelID: m.ChannelID, MID: m.MID, ConversationID: m.ConversationID, MessageSK: m.SK()})
		tx.PutMessage(m)
		tx.UpdateConversation(change)
		st := s.snapshot()
		for _, w := range tx.Writes() {
			if err := st.apply(w); err != nil {
				return fmt.Errorf("append message %s: %s: %w", m.MID, err, domain.ErrConflict)
			}
		}
		s.restore(st)
		return nil
	}
	// The adapter's refusal: known only when the per-mid record or the conversation refused
	// and the channel did not, and not a message without its record nor a missing
	// conversation.
	if msgExists && !midExists || !convExists || !channelOK {
		return fmt.Errorf("append message %s: %w", m.MID, domain.ErrConflict)
	}
	r := &domain.AppendRefused{MID: domain.MIDRecord{ChannelID: m.ChannelID, MID: m.MID}, MIDKnown: true}
	if midExists {
		r.MID = cloneMID(rec)
	}
	if !convOK {
		conv.Referral = cloneReferral(conv.Referral)
		r.ConversationKnown, r.Conversation = true, conv
	}
	return fmt.Errorf("append message %s: %w", m.MID, r)
}

// resolve resolves a conversation as an agent would (the store's SetConversationStatus):
// the conversation is resolved and its contact has no open conversation.
func (s *memStore) resolve(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv := s.conversations[id]
	conv.Status = domain.StatusResolved
	s.conversations[id] = conv
	ref := domain.ContactRef{ChannelID: conv.ChannelID, IGSID: conv.ContactIGSID}
	c := s.contacts[ref]
	if c.OpenConversationID == id {
		c.OpenConversationID = ""
	}
	c.Ver++
	s.contacts[ref] = c
}

// contact returns a contact as stored (Ver 0: none).
func (s *memStore) contact(igsid string) domain.Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneContact(s.contacts[domain.ContactRef{ChannelID: acct, IGSID: igsid}])
}

// conversationsOf returns a contact's conversations, newest activity first (as listed).
func (s *memStore) conversationsOf(igsid string) []domain.Conversation {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.Conversation
	for _, c := range s.conversations {
		if c.ChannelID == acct && c.ContactIGSID == igsid {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].LastActivityMS != out[j].LastActivityMS {
			return out[i].LastActivityMS > out[j].LastActivityMS
		}
		return out[i].ID > out[j].ID
	})
	return out
}

// messagesOf returns a conversation's messages in sort key order (Meta time, then mid).
func (s *memStore) messagesOf(conversationID string) []domain.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := slices.Sorted(maps.Keys(s.messages[conversationID]))
	out := make([]domain.Message, 0, len(keys))
	for _, k := range keys {
		out = append(out, cloneMessage(s.messages[conversationID][k]))
	}
	return out
}

func cloneReferral(r *domain.Referral) *domain.Referral {
	if r == nil {
		return nil
	}
	c := *r
	return &c
}

func cloneEdits(e []domain.Edit) []domain.Edit {
	if len(e) == 0 {
		return nil
	}
	return slices.Clone(e)
}

func cloneContact(c domain.Contact) domain.Contact {
	c.Referral = cloneReferral(c.Referral)
	return c
}

func cloneMID(r domain.MIDRecord) domain.MIDRecord {
	if len(r.Reactions) == 0 {
		r.Reactions = nil
	} else {
		r.Reactions = maps.Clone(r.Reactions)
	}
	r.Edits = cloneEdits(r.Edits)
	return r
}

func cloneMessage(m domain.Message) domain.Message {
	if len(m.Attachments) == 0 {
		m.Attachments = nil
	} else {
		m.Attachments = slices.Clone(m.Attachments)
	}
	if m.ReplyTo != nil {
		r := *m.ReplyTo
		m.ReplyTo = &r
	}
	m.Referral = cloneReferral(m.Referral)
	if len(m.Reactions) == 0 {
		m.Reactions = nil
	} else {
		m.Reactions = slices.Clone(m.Reactions)
	}
	m.Edits = cloneEdits(m.Edits)
	if m.Error != nil {
		e := *m.Error
		m.Error = &e
	}
	if m.SentBy != nil {
		a := *m.SentBy
		m.SentBy = &a
	}
	return m
}

// describe renders what the decisions produced for one contact, for comparing two stores.
func describe(convs []domain.Conversation, msgs func(id string) []domain.Message) string {
	var b strings.Builder
	for _, c := range convs {
		fmt.Fprintf(&b, "conversation %s seq=%d status=%s activity=%d incoming=%d\n", c.ID, c.Seq, c.Status, c.LastActivityMS, c.LastIncomingMS)
		for _, m := range msgs(c.ID) {
			fmt.Fprintf(&b, "  %s %s %s deleted=%v text=%q edits=%v reactions=%v\n", m.SK(), m.Direction, m.Status, m.Deleted, m.Text, m.Edits, m.Reactions)
		}
	}
	return b.String()
}
