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
// activity). When a condition fails — a duplicate, an early unsend or reaction, a resolved
// conversation, an out-of-order message, another container's write — the service forgets the
// contact and reads and decides as for any event: one round trip more, only then.

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
	err = s.store.AppendToOpenConversation(ctx, msg)
	if errors.Is(err, domain.ErrConflict) {
		s.open.forget(k)
		var refused *domain.AppendRefused
		if errors.As(err, &refused) {
			return false, s.learned(msg, refused, now), nil
		}
		return false, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	return true, nil, nil
}

// learned turns a refusal into the state a read would have returned, when it holds all the
// decision needs: the per-mid record of a duplicate; or the per-mid record and a contact
// with an open conversation and a fresh profile (an out-of-order message, a conversation
// resolved and replaced by another container). The channel is known to exist (its contact
// does, with a conversation open) and is not consulted for an open conversation with a fresh
// profile.
func (s *Service) learned(msg domain.Message, r *domain.AppendRefused, now time.Time) *domain.EventState {
	st := &domain.EventState{Channel: domain.Channel{ID: msg.ChannelID}, ChannelFound: true, MID: r.MID}
	switch {
	case r.MIDKnown && (r.MID.Stored() || r.MID.Erased):
		return st // a duplicate, or a message erased with its contact
	case !r.MIDKnown || !r.ContactKnown:
		return nil
	}
	c := r.Contact
	fresh := (c.ProfileStatus == domain.ProfileOK || c.ProfileStatus == domain.ProfileUnknown) && now.Sub(c.ProfileFetchedAt) < s.cfg.ProfileMaxAge
	if c.OpenConversationID == "" || !fresh {
		return nil
	}
	st.Contact = c
	return st
}
