package publisher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/view"
)

// Reader is what translating needs to read beyond the record itself (implemented by the
// store): the contact of a conversation or reply (its name for conversation events,
// its read position for the status of a sent reply), and the replies a read receipt covers.
type Reader interface {
	GetContact(ctx context.Context, accountID, igsid string) (domain.Contact, error)
	MessagesBetween(ctx context.Context, conversationID string, afterMS, untilMS int64) ([]domain.Message, error)
}

// Translator turns stream records into domain events.
type Translator struct {
	r     Reader
	items Items
}

// NewTranslator returns a Translator reading with r and decoding items with items.
func NewTranslator(r Reader, items Items) *Translator { return &Translator{r: r, items: items} }

// change is one stream record decoded.
type change struct {
	op       string // INSERT, MODIFY, REMOVE
	recordID string // the stream record's eventID
	at       time.Time
	oldImg   image
	newImg   image
}

// Translate returns the events of one stream record, in the order they happened. Records of
// items that are not domain state, and changes nobody outside needs (activity sort keys,
// send attempts, profile refreshes that changed nothing shown), give none. An error means
// the record could not be translated now (a read failed, the image does not decode): the
// caller reports it failed so that it is retried.
func (t *Translator) Translate(ctx context.Context, rec events.DynamoDBEventRecord) ([]Event, error) {
	pk, sk := rec.Change.Keys["pk"], rec.Change.Keys["sk"]
	if pk.DataType() != events.DataTypeString || sk.DataType() != events.DataTypeString {
		return nil, fmt.Errorf("record %s: keys pk/sk are not strings", rec.EventID)
	}
	kind := t.items.Kind(pk.String(), sk.String())
	if kind == domain.ItemOther {
		return nil, nil
	}
	c := change{op: rec.EventName, recordID: rec.EventID, at: rec.Change.ApproximateCreationDateTime.UTC(),
		oldImg: image{raw: rec.Change.OldImage, items: t.items}, newImg: image{raw: rec.Change.NewImage, items: t.items}}
	var evs []Event
	var err error
	switch kind {
	case domain.ItemMessage:
		evs, err = t.message(ctx, c)
	case domain.ItemContact:
		evs, err = t.contact(ctx, c)
	case domain.ItemConversation:
		evs, err = t.conversation(ctx, c)
	case domain.ItemChannel:
		evs, err = t.channel(c)
	}
	if err != nil {
		return nil, fmt.Errorf("record %s (%s %s): %w", rec.EventID, rec.EventName, pk.String(), err)
	}
	return evs, nil
}

// eventID derives an event's id from what identifies it (the stream record id, the detail
// type, a subject): the same change redelivered gives the same id.
func eventID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (c change) common(detailType, channelID string, occurredMS int64, subject ...string) Common {
	if occurredMS <= 0 {
		occurredMS = c.at.UnixMilli()
	}
	return Common{
		SchemaVersion: SchemaVersion,
		EventID:       eventID(append([]string{c.recordID, detailType}, subject...)...),
		OccurredAt:    view.MetaTime(occurredMS),
		ChannelID:     channelID,
	}
}

func event(detailType string, common Common, detail any) Event {
	return Event{DetailType: detailType, Detail: detail, Common: common}
}

// ---------------------------------------------------------------------------- messages

func (t *Translator) message(ctx context.Context, c change) ([]Event, error) {
	if c.op == "REMOVE" {
		// A removed message item is a reply re-keyed to its send time (its INSERT at the new
		// key tells the story) or an erasure: neither is an event.
		return nil, nil
	}
	var m domain.Message
	if err := c.newImg.decode(&m); err != nil {
		return nil, fmt.Errorf("decode message: %w", err)
	}
	var old *domain.Message
	if c.op == "MODIFY" && c.oldImg.present() {
		old = &domain.Message{}
		if err := c.oldImg.decode(old); err != nil {
			return nil, fmt.Errorf("decode old message: %w", err)
		}
	}
	var evs []Event
	msgEvent := func(detailType string, occurredMS int64) {
		cm := c.common(detailType, m.ChannelID, occurredMS, m.ID)
		evs = append(evs, event(detailType, cm, MessageDetail{Common: cm, ConversationID: m.ConversationID, Message: view.NewMessage(m, 0)}))
	}
	if old == nil {
		switch {
		case m.Direction == domain.DirectionIncoming:
			msgEvent(MessageReceived, m.TimestampMS)
			return evs, nil
		case m.Echo:
			// Written from the Instagram app (an echo of our own reply is matched with the
			// reply's record and adds no item).
			msgEvent(MessageEcho, m.TimestampMS)
			return evs, nil
		}
		// A reply part: created queued, or put at its send-time key once sent.
		prev := ""
		if m.Status == domain.MessageSent {
			prev = domain.MessageQueued
		}
		return t.statusChanged(ctx, c, m, prev)
	}
	if old.Status != m.Status && m.Direction == domain.DirectionOutgoing {
		st, err := t.statusChanged(ctx, c, m, old.Status)
		if err != nil {
			return nil, err
		}
		evs = append(evs, st...)
	}
	if m.Text != old.Text && !m.Deleted || len(m.Edits) > len(old.Edits) {
		msgEvent(MessageEdited, 0)
	}
	if !reflect.DeepEqual(view.NewMessage(*old, 0).Reactions, view.NewMessage(m, 0).Reactions) && !m.Deleted {
		msgEvent(ReactionChanged, 0)
	}
	if m.Deleted && !old.Deleted {
		msgEvent(MessageDeleted, 0)
	}
	return evs, nil
}

// statusChanged returns message.status_changed for a reply that reached m.Status, followed
// by its change to read when the contact's read position already covers it. The id of a
// status change is derived from the message and the status (one message reaches a status
// once, and the read of a reply can be seen from two records: the reply's and the contact's).
func (t *Translator) statusChanged(ctx context.Context, c change, m domain.Message, prev string) ([]Event, error) {
	occurred := int64(0)
	switch m.Status {
	case domain.MessageSent:
		occurred = m.TimestampMS // re-keyed to Meta's send time
	case domain.MessageQueued:
		occurred = m.CreatedAt.UnixMilli()
	}
	evs := []Event{statusEvent(c, m, m.Status, prev, occurred, 0)}
	if m.Status != domain.MessageSent || m.Echo {
		return evs, nil
	}
	contact, err := t.r.GetContact(ctx, m.ChannelID, m.ContactIGSID)
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return nil, fmt.Errorf("read position of %s: %w", m.ContactIGSID, err)
	}
	if wm := contact.ReadWatermarkMS; wm > 0 && m.TimestampMS <= wm {
		evs = append(evs, statusEvent(c, m, domain.MessageRead, domain.MessageSent, wm, wm))
	}
	return evs, nil
}

func statusEvent(c change, m domain.Message, status, prev string, occurredMS, watermarkMS int64) Event {
	cm := c.common(MessageStatusChanged, m.ChannelID, occurredMS)
	cm.EventID = eventID(MessageStatusChanged, m.ID, status)
	d := StatusDetail{
		Common: cm, ConversationID: m.ConversationID, MessageID: m.ID, Status: status, PreviousStatus: prev,
		Message: view.NewMessage(m, watermarkMS),
	}
	return event(MessageStatusChanged, cm, d)
}

// ---------------------------------------------------------------------------- contacts

func (t *Translator) contact(ctx context.Context, c change) ([]Event, error) {
	if c.op == "REMOVE" {
		return nil, nil // erasure: no event carries the data that was erased
	}
	var n, o domain.Contact
	if err := c.newImg.decode(&n); err != nil {
		return nil, fmt.Errorf("decode contact: %w", err)
	}
	if c.oldImg.present() {
		if err := c.oldImg.decode(&o); err != nil {
			return nil, fmt.Errorf("decode old contact: %w", err)
		}
	}
	var evs []Event
	if c.op == "MODIFY" && contactView(o) != contactView(n) {
		cm := c.common(ContactUpdated, n.ChannelID, 0, n.IGSID)
		evs = append(evs, event(ContactUpdated, cm, ContactDetail{Common: cm, ConversationID: n.LastConversationID, Contact: contactView(n)}))
	}
	if n.ReadWatermarkMS > o.ReadWatermarkMS {
		reads, err := t.reads(ctx, c, n, o.ReadWatermarkMS)
		if err != nil {
			return nil, err
		}
		evs = append(evs, reads...)
	}
	return evs, nil
}

func contactView(c domain.Contact) view.Contact {
	return view.NewConversation(domain.Conversation{ContactIGSID: c.IGSID}, c).Contact
}

// reads returns message.status_changed → read for every sent reply the contact's new read
// position covers: replies of its latest (and open) conversation sent after the previous
// position and at or before the new one.
func (t *Translator) reads(ctx context.Context, c change, n domain.Contact, prevMS int64) ([]Event, error) {
	ids := []string{n.LastConversationID}
	if n.OpenConversationID != "" && n.OpenConversationID != n.LastConversationID {
		ids = append(ids, n.OpenConversationID)
	}
	var evs []Event
	for _, id := range ids {
		if id == "" {
			continue
		}
		ms, err := t.r.MessagesBetween(ctx, id, prevMS, n.ReadWatermarkMS)
		if err != nil {
			return nil, fmt.Errorf("replies read by %s: %w", n.IGSID, err)
		}
		for _, m := range ms {
			if m.Direction == domain.DirectionOutgoing && !m.Echo && m.Status == domain.MessageSent {
				evs = append(evs, statusEvent(c, m, domain.MessageRead, domain.MessageSent, n.ReadWatermarkMS, n.ReadWatermarkMS))
			}
		}
	}
	return evs, nil
}

// ------------------------------------------------------------------------ conversations

func (t *Translator) conversation(ctx context.Context, c change) ([]Event, error) {
	if c.op == "REMOVE" {
		return nil, nil
	}
	var n, o domain.Conversation
	if err := c.newImg.decode(&n); err != nil {
		return nil, fmt.Errorf("decode conversation: %w", err)
	}
	if c.oldImg.present() {
		if err := c.oldImg.decode(&o); err != nil {
			return nil, fmt.Errorf("decode old conversation: %w", err)
		}
	}
	var detailType, prev string
	occurred := int64(0)
	switch {
	case c.op == "INSERT":
		detailType, occurred = ConversationCreated, n.LastActivityMS
	case o.Status != n.Status:
		detailType, prev = ConversationStatusChanged, o.Status
	default:
		return nil, nil
	}
	contact, err := t.r.GetContact(ctx, n.ChannelID, n.ContactIGSID)
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return nil, fmt.Errorf("contact of conversation %s: %w", n.ID, err)
	}
	cm := c.common(detailType, n.ChannelID, occurred, n.ID)
	return []Event{event(detailType, cm, ConversationDetail{
		Common: cm, ConversationID: n.ID, Status: n.Status, PreviousStatus: prev,
		Conversation: view.NewConversation(n, contact),
	})}, nil
}

// ----------------------------------------------------------------------------- channels

// channel: a new channel item is a connection; a re-connect sets reconnected_at; flagging
// sets reauth_required; a refresh moves token_refreshed_at; a channel marked disconnected
// (deauthorized, disconnected, being purged), or its item removed while it was not, is a
// disconnection: a purge that marks then deletes publishes one.
func (t *Translator) channel(c change) ([]Event, error) {
	img := c.newImg
	if c.op == "REMOVE" {
		img = c.oldImg
	}
	var n, o domain.Channel
	if err := img.decode(&n); err != nil {
		return nil, fmt.Errorf("decode channel: %w", err)
	}
	if c.oldImg.present() {
		if err := c.oldImg.decode(&o); err != nil {
			return nil, fmt.Errorf("decode old channel: %w", err)
		}
	}
	var detailType string
	occurred := n.UpdatedAt
	switch {
	case c.op == "REMOVE" && !n.Disconnected():
		detailType, occurred = ChannelDisconnected, c.at
	case c.op == "REMOVE":
		return nil, nil // announced when it was marked disconnected
	case c.op == "INSERT":
		detailType, occurred = ChannelConnected, n.ConnectedAt
	case n.Disconnected() && !o.Disconnected():
		detailType, occurred = ChannelDisconnected, n.DisconnectedAt
	case !n.ReconnectedAt.Equal(o.ReconnectedAt):
		detailType, occurred = ChannelConnected, n.ReconnectedAt
	case n.ReauthRequired && !o.ReauthRequired:
		detailType, occurred = ChannelReauthRequired, n.ReauthAt
	case !n.TokenRefreshedAt.Equal(o.TokenRefreshedAt):
		detailType, occurred = ChannelTokenRefreshed, n.TokenRefreshedAt
	default:
		return nil, nil
	}
	cm := c.common(detailType, n.ID, occurred.UnixMilli())
	return []Event{event(detailType, cm, ChannelDetail{Common: cm, Channel: view.NewChannel(n)})}, nil
}
