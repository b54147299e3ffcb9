package inbox

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/envelope"
)

// storeMessage stores an incoming message, an echo or a postback: once per mid, in the
// contact's open conversation (or a new / reopened one), applying an unsend or reactions that
// arrived before it.
func (s *Service) storeMessage(ctx context.Context, env envelope.Envelope, it item) (string, error) {
	msg := buildMessage(env, it)
	stored, known, err := s.appendFast(ctx, msg)
	if err != nil {
		return "", err
	}
	if stored {
		return outcomeStored, nil
	}
	var st domain.EventState
	if known != nil {
		st = *known // what the refused write returned: as good as a read
	} else if st, err = s.store.LoadEventState(ctx, env.AccountID, env.ContactID, msg.MID); err != nil {
		return "", err
	}
	if !st.Active() {
		return s.inactiveAccount(ctx, env, st)
	}
	if st.MID.Stored() || st.MID.Erased {
		// Meta's retries, SQS redeliveries, DLQ re-drives, and echoes of our own sends.
		return outcomeDuplicate, nil
	}
	if msg.Echo && s.echoes != nil {
		// The echo of a send whose outcome was unknown (timeout, crash) completes that send.
		done, err := s.echoes.ReconcileEcho(ctx, st, msg)
		if err != nil {
			return "", err
		}
		if done {
			if st.MID.Deleted {
				// The business unsent it before its echo came: erase the part just settled.
				return s.eraseSettled(ctx, env.AccountID, msg.MID)
			}
			return outcomeEchoSend, nil
		}
	}
	contact, err := s.profile(ctx, st.Channel, st.Contact)
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	if contact.Ver == 0 {
		contact.CreatedAt = now
	}
	rec := st.MID
	err = s.commitPlaced(ctx, &contact, func(tx *domain.Tx, c *domain.Contact) {
		m := msg
		m.ConversationID = s.place(tx, st.Channel, c, m.TimestampMS, m.Direction == domain.DirectionIncoming, nil, now)
		m.CreatedAt = now
		if rec.Deleted {
			eraseContent(&m)
		} else if len(rec.Edits) > 0 {
			m.ApplyEdits(m.Text, rec.Edits) // edits that came before their message
		}
		m.Reactions = shownReactions(rec.Reactions)
		r := rec
		r.ConversationID, r.MessageSK, r.TTL = m.ConversationID, m.SK(), 0
		tx.PutMessage(m)
		tx.PutMID(r)
		tx.PutContact(*c)
	})
	if err != nil {
		return "", err
	}
	s.remember(contact, now)
	if rec.Deleted {
		// Unsent before it arrived: its archived body must not keep the content either.
		s.scrubArchive(ctx, env, msg.MID, msg.TimestampMS)
	}
	return outcomeStored, nil
}

// placedAttempts bounds how often commitPlaced decides again with a conversation's times.
const placedAttempts = 3

// commitPlaced builds the writes of an event that places a message in a conversation (build
// calls place with a copy of contact) and commits them. The contact mirrors its last
// conversation's times only as of its own last write (messages appended without a read move
// the conversation alone), so the conversation's update is conditional on them; when only
// that condition failed, the refusal carries the conversation, and the event is decided again
// with its times, without a read. On success contact is the contact as written.
func (s *Service) commitPlaced(ctx context.Context, contact *domain.Contact, build func(tx *domain.Tx, c *domain.Contact)) error {
	for attempt := 1; ; attempt++ {
		c := *contact
		tx := new(domain.Tx)
		build(tx, &c)
		err := s.store.Commit(ctx, tx)
		var ahead *domain.ConversationAhead
		if attempt < placedAttempts && errors.As(err, &ahead) && ahead.Alone && ahead.Conversation.ID == contact.LastConversationID {
			contact.ConvLastActivityMS = max(contact.ConvLastActivityMS, ahead.Conversation.LastActivityMS)
			contact.ConvLastIncomingMS = max(contact.ConvLastIncomingMS, ahead.Conversation.LastIncomingMS)
			continue
		}
		if err != nil {
			return err
		}
		*contact = c
		return nil
	}
}

func buildMessage(env envelope.Envelope, it item) domain.Message {
	m := domain.Message{
		ChannelID:    env.AccountID,
		ContactIGSID: env.ContactID,
		Direction:    domain.DirectionIncoming,
		Status:       domain.MessageReceived,
		TimestampMS:  env.Timestamp,
	}
	switch {
	case it.Postback != nil && it.Message == nil:
		m.MID = string(it.Postback.MID)
		m.Text = string(it.Postback.Title)
		m.PostbackPayload = string(it.Postback.Payload)
		m.Postback = true
	case it.Message != nil:
		in := it.Message
		m.MID = string(in.MID)
		m.Text = string(in.Text)
		m.Attachments = attachments(in.Attachments)
		m.Unsupported = bool(in.IsUnsupported)
		if in.IsEcho || env.Kind == envelope.KindEcho {
			m.Direction, m.Echo, m.Status = domain.DirectionOutgoing, true, domain.MessageSent
		}
		if in.QuickReply.OK {
			m.QuickReplyPayload = string(in.QuickReply.V.Payload)
		}
		if in.ReplyTo.OK {
			r := in.ReplyTo.V
			switch {
			case r.Story != nil:
				m.ReplyTo = &domain.ReplyTo{StoryID: string(r.Story.ID), StoryURL: string(r.Story.URL)}
			case r.MID != "":
				m.ReplyTo = &domain.ReplyTo{MID: string(r.MID)}
			}
		}
		m.Referral = referral(in.Referral, env.Timestamp)
	}
	m.ID = MessageID(env.AccountID, m.MID)
	return m
}

func eraseContent(m *domain.Message) {
	m.Deleted = true
	m.Text, m.Attachments, m.ReplyTo, m.QuickReplyPayload, m.PostbackPayload, m.Referral = "", nil, nil, "", "", nil
	m.Edits = nil
}

// place picks the conversation of a message and records its activity on the conversation
// and on the contact (which mirrors its last conversation's times as of its last write: a
// lower bound, so the conversation's update is conditional on its own, see commitPlaced):
//   - the open conversation, if any (at most one: the contact's open_conversation_id);
//   - for an echo, the last conversation even when resolved (our own replies do not reopen);
//   - with lock_to_single_conversation, the last conversation, reopened;
//   - otherwise a new conversation.
//
// ref, when not nil, also becomes the conversation's referral.
func (s *Service) place(tx *domain.Tx, ch domain.Channel, c *domain.Contact, ts int64, incoming bool, ref *domain.Referral, now time.Time) string {
	var (
		id     string
		reopen bool
	)
	switch {
	case c.OpenConversationID != "":
		id = c.OpenConversationID
	case !incoming && c.LastConversationID != "":
		id = c.LastConversationID
	case ch.LockToSingleConversation && c.LastConversationID != "":
		id, reopen = c.LastConversationID, true
		c.OpenConversationID = id
	default:
		c.ConversationSeq++
		id = ConversationID(c.ChannelID, c.IGSID, c.ConversationSeq)
		conv := domain.Conversation{
			ID: id, ChannelID: c.ChannelID, ContactIGSID: c.IGSID, Status: domain.StatusOpen,
			Seq: c.ConversationSeq, LastActivityMS: ts, Referral: c.Referral, CreatedAt: now,
		}
		if incoming {
			conv.LastIncomingMS = ts
		}
		tx.CreateConversation(conv)
		c.OpenConversationID, c.LastConversationID = id, id
		c.ConvLastActivityMS, c.ConvLastIncomingMS = conv.LastActivityMS, conv.LastIncomingMS
		return id
	}
	change := domain.ConversationChange{ID: id, Referral: ref}
	if reopen {
		change.Status = domain.StatusOpen
	}
	if ts > c.ConvLastActivityMS {
		c.ConvLastActivityMS, change.LastActivityMS = ts, ts
	}
	if incoming && ts > c.ConvLastIncomingMS {
		c.ConvLastIncomingMS, change.LastIncomingMS = ts, ts
	}
	tx.UpdateConversation(change)
	return id
}

// unsend marks a message deleted and drops its content; when the message is not stored yet,
// the per-mid record keeps the unsend so that the message is stored deleted when it comes.
func (s *Service) unsend(ctx context.Context, env envelope.Envelope, mid string) (string, error) {
	st, err := s.store.LoadEventState(ctx, env.AccountID, "", mid)
	if err != nil {
		return "", err
	}
	if !st.Active() {
		return s.inactiveAccount(ctx, env, st)
	}
	rec := st.MID
	if rec.Deleted {
		return outcomeUnchanged, nil
	}
	rec.Deleted, rec.DeletedMS = true, env.Timestamp
	rec.Edits, rec.EditedBy = nil, "" // the content goes, edits included
	tx := new(domain.Tx)
	if rec.Stored() {
		tx.EraseMessage(rec.ConversationID, rec.MessageSK)
	} else if rec.TTL == 0 {
		rec.TTL = s.now().Add(s.cfg.TombstoneTTL).Unix()
	}
	tx.PutMID(rec)
	if err := s.store.Commit(ctx, tx); err != nil {
		return "", err
	}
	var since int64 // the message's Meta time when known; else every archived body of the contact
	if rec.Stored() {
		since = domain.MessageSKTime(rec.MessageSK)
	}
	s.scrubArchive(ctx, env, mid, since)
	return outcomeUpdated, nil
}

// edit applies a message_edit: the message's text becomes the edit with the highest num_edit
// seen so far and the earlier versions are kept (Message.Edits). The per-mid record keeps
// every edit, so edits converge whatever the order, also before their message (applied when
// it is stored). An edit of a deleted message changes nothing: it stays deleted.
func (s *Service) edit(ctx context.Context, env envelope.Envelope, it item) (string, error) {
	e := it.Edit
	mid := string(e.MID)
	st, err := s.store.LoadEventState(ctx, env.AccountID, "", mid)
	if err != nil {
		return "", err
	}
	if !st.Active() {
		return s.inactiveAccount(ctx, env, st)
	}
	rec := st.MID
	if rec.Deleted {
		return outcomeUnchanged, nil
	}
	edits, added := domain.AddEdit(rec.Edits, domain.Edit{Text: string(e.Text), NumEdit: int(e.NumEdit), MS: env.Timestamp})
	if !added {
		return outcomeUnchanged, nil
	}
	rec.Edits = edits
	tx := new(domain.Tx)
	if rec.Stored() {
		// Edits are rare (at most 5 per message): reading the message for its original text
		// costs one more round trip only for them.
		msg, err := s.store.GetMessage(ctx, rec.ConversationID, rec.MessageSK)
		if err != nil {
			return "", fmt.Errorf("edit %s: %w", mid, err)
		}
		if !msg.Deleted {
			msg.ApplyEdits(msg.OriginalText(), edits)
			tx.SetMessageText(rec.ConversationID, rec.MessageSK, msg.Text, msg.Edits)
		}
	} else {
		rec.EditedBy = env.ContactID
		if rec.TTL == 0 {
			rec.TTL = s.now().Add(s.cfg.TombstoneTTL).Unix()
		}
	}
	tx.PutMID(rec)
	if err := s.store.Commit(ctx, tx); err != nil {
		return "", err
	}
	return outcomeUpdated, nil
}

// eraseSettled erases the content of a message whose per-mid record already says deleted (a
// send settled by its echo after the business had unsent it).
func (s *Service) eraseSettled(ctx context.Context, accountID, mid string) (string, error) {
	st, err := s.store.LoadEventState(ctx, accountID, "", mid)
	if err != nil {
		return "", err
	}
	if !st.MID.Stored() {
		return outcomeUnchanged, nil
	}
	tx := new(domain.Tx)
	tx.EraseMessage(st.MID.ConversationID, st.MID.MessageSK)
	tx.PutMID(st.MID)
	if err := s.store.Commit(ctx, tx); err != nil {
		return "", err
	}
	return outcomeUpdated, nil
}

// react applies a react / unreact: per reactor, the event with the later Meta timestamp wins
// (ties broken by the event's content, so every order converges).
func (s *Service) react(ctx context.Context, env envelope.Envelope, it item) (string, error) {
	r := it.Reaction
	st, err := s.store.LoadEventState(ctx, env.AccountID, "", string(r.MID))
	if err != nil {
		return "", err
	}
	if !st.Active() {
		return s.inactiveAccount(ctx, env, st)
	}
	reactor := string(it.Sender.ID)
	if reactor == "" {
		reactor = env.ContactID
	}
	next := domain.ReactionState{Action: string(r.Action), Reaction: string(r.Reaction), Emoji: string(r.Emoji), MS: env.Timestamp}
	if next.Action == "" {
		next.Action = "react"
	}
	rec := st.MID
	if rec.Erased {
		return outcomeUnchanged, nil // the message was erased with its contact
	}
	if cur, ok := rec.Reactions[reactor]; ok && !later(next, cur) {
		return outcomeUnchanged, nil
	}
	reactions := make(map[string]domain.ReactionState, len(rec.Reactions)+1)
	for k, v := range rec.Reactions {
		reactions[k] = v
	}
	reactions[reactor] = next
	rec.Reactions = reactions
	tx := new(domain.Tx)
	if rec.Stored() {
		tx.SetMessageReactions(rec.ConversationID, rec.MessageSK, shownReactions(rec.Reactions))
	} else if rec.TTL == 0 {
		rec.TTL = s.now().Add(s.cfg.TombstoneTTL).Unix()
	}
	tx.PutMID(rec)
	if err := s.store.Commit(ctx, tx); err != nil {
		return "", err
	}
	return outcomeUpdated, nil
}

func later(a, b domain.ReactionState) bool {
	if a.MS != b.MS {
		return a.MS > b.MS
	}
	ka := a.Action + "\x00" + a.Reaction + "\x00" + a.Emoji
	kb := b.Action + "\x00" + b.Reaction + "\x00" + b.Emoji
	return ka > kb
}

// shownReactions lists the active reactions, ordered by reactor.
func shownReactions(states map[string]domain.ReactionState) []domain.MessageReaction {
	var out []domain.MessageReaction
	for by, st := range states {
		if st.Action == "unreact" {
			continue
		}
		out = append(out, domain.MessageReaction{By: by, Reaction: st.Reaction, Emoji: st.Emoji})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].By < out[j].By })
	return out
}

// read advances the contact's read watermark: every outgoing message sent at or before it
// reads as read, including messages stored later.
func (s *Service) read(ctx context.Context, env envelope.Envelope) (string, error) {
	st, err := s.store.LoadEventState(ctx, env.AccountID, "", "")
	if err != nil {
		return "", err
	}
	if !st.Active() {
		return s.inactiveAccount(ctx, env, st)
	}
	if err := s.store.AdvanceReadWatermark(ctx, env.AccountID, env.ContactID, env.Timestamp); err != nil {
		return "", err
	}
	return outcomeUpdated, nil
}

// referral records an ig.me link or ad referral into a thread: an entry in the conversation
// (kind "referral", no mid; the customer opening the thread joins or starts a conversation
// like a message does), and, when it is the latest, the referral of the contact and of that
// conversation (a conversation opened later starts with the contact's referral). A per-mid
// record under a key derived from the event keeps the entry once, whatever the order.
func (s *Service) referral(ctx context.Context, env envelope.Envelope, it item) (string, error) {
	ref := referral(it.Referral, env.Timestamp)
	entryKey := "referral." + domain.HashID("referral", env.AccountID, env.ContactID, strconv.FormatInt(env.Timestamp, 10), ref.Raw)
	st, err := s.store.LoadEventState(ctx, env.AccountID, env.ContactID, entryKey)
	if err != nil {
		return "", err
	}
	if !st.Active() {
		return s.inactiveAccount(ctx, env, st)
	}
	if st.MID.Stored() || st.MID.Erased {
		return outcomeDuplicate, nil // kept already, or erased with its contact
	}
	c := st.Contact
	now := s.now().UTC()
	if c.Ver == 0 {
		c.CreatedAt = now
	}
	var convRef *domain.Referral
	if cur := c.Referral; cur == nil || cur.MS < ref.MS || (cur.MS == ref.MS && cur.Raw < ref.Raw) {
		c.Referral, convRef = ref, ref
	}
	entry := domain.Message{
		// The entry's mid attribute is its record's key, so that erasing the conversation
		// reaches the record like any message's; the API does not show it.
		ID: MessageID(env.AccountID, entryKey), MID: entryKey, ChannelID: env.AccountID, ContactIGSID: env.ContactID,
		Kind: domain.KindReferral, Direction: domain.DirectionIncoming, Status: domain.MessageReceived,
		Referral: ref, TimestampMS: env.Timestamp, CreatedAt: now,
	}
	err = s.commitPlaced(ctx, &c, func(tx *domain.Tx, c *domain.Contact) {
		e := entry
		e.ConversationID = s.place(tx, st.Channel, c, env.Timestamp, true, convRef, now)
		rec := st.MID
		rec.ConversationID, rec.MessageSK = e.ConversationID, e.SK()
		tx.PutMessage(e)
		tx.PutMID(rec)
		tx.PutContact(*c)
	})
	if err != nil {
		return "", err
	}
	return outcomeStored, nil
}
