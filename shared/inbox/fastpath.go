package inbox

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
)

// The steady state of an inbox is a known contact writing into an open conversation. For it
// the service writes first, without reading: it remembers (per container) which conversation
// each contact had open when it last stored one of their messages, and appends the next
// message there with the store's AppendToOpenConversation, whose conditions only let the write
// through when reading first would have decided exactly the same writes (the mid never seen,
// nothing waiting for it, the conversation still open, the message not older than its
// activity). An out-of-order message is appended again with what the refusal returned about
// the conversation. When another condition fails — a duplicate, an early unsend or reaction,
// a resolved conversation, another container's write — the service forgets the contact and
// reads and decides as for any event: one round trip more, only then.

// openCacheTTL bounds how long a remembered open conversation is used without a read (the
// write's conditions catch every change to it; the bound only limits the memory of contacts
// that went quiet, and how long a disconnected, not purged, channel still gets messages).
const (
	openCacheTTL = 5 * time.Minute
	openCacheMax = 50000
)

type contactKey struct{ account, igsid string }

type openConversation struct {
	id         string
	until      time.Time // remembered until then
	profileDue time.Time // the contact's profile needs a refresh from then on (a read)
}

// openCache remembers each contact's open conversation.
type openCache struct {
	mu sync.Mutex
	m  map[contactKey]openConversation
}

func (c *openCache) get(k contactKey, now time.Time) (openConversation, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.m[k]
	if !ok || !now.Before(o.until) || !now.Before(o.profileDue) {
		return openConversation{}, false
	}
	return o, true
}

func (c *openCache) put(k contactKey, o openConversation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= openCacheMax {
		c.m = map[contactKey]openConversation{}
	}
	c.m[k] = o
}

func (c *openCache) forget(k contactKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

// remember records the contact's open conversation after a message was stored in it, when
// the next message can be appended without a read: the profile is fresh (a stale one is
// refreshed on a read).
func (s *Service) remember(c domain.Contact, now time.Time) {
	k := contactKey{c.ChannelID, c.IGSID}
	if c.OpenConversationID == "" || (c.ProfileStatus != domain.ProfileOK && c.ProfileStatus != domain.ProfileUnknown) {
		s.open.forget(k)
		return
	}
	s.open.put(k, openConversation{id: c.OpenConversationID, until: now.Add(openCacheTTL), profileDue: c.ProfileFetchedAt.Add(s.cfg.ProfileMaxAge)})
}

// appendFast tries the write-first path for msg (an incoming message or postback). It reports
// whether the message is stored; when it is not, known is what the refusal told about the
// event's state (nil: read it).
func (s *Service) appendFast(ctx context.Context, msg domain.Message) (stored bool, known *domain.EventState, err error) {
	if msg.Direction != domain.DirectionIncoming {
		return false, nil, nil // echoes may complete one of our sends: they read
	}
	k := contactKey{msg.ChannelID, msg.ContactIGSID}
	now := s.now().UTC()
	open, ok := s.open.get(k, now)
	if !ok {
		return false, nil, nil
	}
	msg.ConversationID, msg.CreatedAt = open.id, now
	err = s.store.AppendToOpenConversation(ctx, msg, nil)
	var refused *domain.AppendRefused
	if errors.As(err, &refused) && outOfOrder(refused) {
		// Older than the conversation's activity (or last incoming message), which is still
		// open: append it again leaving the later times alone.
		seen := refused.Conversation
		err = s.store.AppendToOpenConversation(ctx, msg, &seen)
		refused = nil
		errors.As(err, &refused)
	}
	if errors.Is(err, domain.ErrConflict) {
		s.open.forget(k)
		if refused != nil {
			return false, learned(msg, refused), nil
		}
		return false, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	return true, nil, nil
}

// outOfOrder: a refusal only because the message is older than a time of its conversation,
// which is open, and no per-mid record exists (nothing waits for the message).
func outOfOrder(r *domain.AppendRefused) bool {
	return r.MIDKnown && r.MID.Ver == 0 && r.ConversationKnown && r.Conversation.Status == domain.StatusOpen
}

// learned turns a refusal into the state a read would have returned, when it holds all the
// decision needs: the per-mid record of a duplicate (or of a message erased with its
// contact). The channel is known to exist (the contact's conversation does) and is not
// consulted for a duplicate. Anything else (a resolved conversation, an unsend or reaction
// waiting for the message) needs the contact: read.
func learned(msg domain.Message, r *domain.AppendRefused) *domain.EventState {
	if r.MIDKnown && (r.MID.Stored() || r.MID.Erased) {
		return &domain.EventState{Channel: domain.Channel{ID: msg.ChannelID}, ChannelFound: true, MID: r.MID}
	}
	return nil
}
