package inbox_test

import (
	"time"

	"github.com/iginbox/iginbox/shared/domain"
)

// erase erases a contact as the store's EraseContactStep does, as far as the inbound
// decisions can see: every stored mid of the contact's conversations becomes a content-free
// tombstone (deleted, erased, version 1), the messages and conversations go, and the contact
// keeps nothing but its conversation counter (its pointers to conversations are dropped first,
// in a write of their own).
func (s *memStore) erase(igsid string, tombstoneUntil time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, conv := range s.conversations {
		if conv.ChannelID != acct || conv.ContactIGSID != igsid {
			continue
		}
		for _, m := range s.messages[id] {
			if m.MID != "" {
				s.mids[midRef(acct, m.MID)] = domain.MIDRecord{ChannelID: acct, MID: m.MID, Deleted: true, Erased: true, TTL: tombstoneUntil.Unix(), Ver: 1}
			}
		}
		delete(s.messages, id)
		delete(s.conversations, id)
	}
	ref := domain.ContactRef{ChannelID: acct, IGSID: igsid}
	if c, ok := s.contacts[ref]; ok {
		ver := c.Ver + 1
		if c.OpenConversationID != "" || c.LastConversationID != "" {
			ver++ // the write that first detaches the contact from its conversations
		}
		s.contacts[ref] = domain.Contact{ChannelID: acct, IGSID: igsid, ConversationSeq: c.ConversationSeq, Ver: ver}
	}
}
