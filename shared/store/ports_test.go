package store_test

// The interfaces the domain packages declare over domain types, checked against the adapter
// at compile time. The checks live in a test of the adapter: in a consumer they would make it
// import the adapter again, and in a non-test file here they would make every function that
// links the store link every service package too.

import (
	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/callbacks"
	"github.com/iginbox/iginbox/shared/erasure"
	"github.com/iginbox/iginbox/shared/inbox"
	"github.com/iginbox/iginbox/shared/oauth"
	"github.com/iginbox/iginbox/shared/outbound"
	"github.com/iginbox/iginbox/shared/publisher"
	"github.com/iginbox/iginbox/shared/refresher"
	"github.com/iginbox/iginbox/shared/store"
	"github.com/iginbox/iginbox/shared/sweeper"
)

var (
	_ api.IdentityStore        = (*store.Store)(nil)
	_ api.ConversationStore    = (*store.Store)(nil)
	_ api.DisconnectStore      = (*store.Store)(nil)
	_ api.ReplyStore           = (*store.Store)(nil)
	_ callbacks.Store          = (*store.Store)(nil)
	_ erasure.Store            = (*store.Store)(nil)
	_ erasure.UnsubscribeStore = (*store.Store)(nil)
	_ inbox.Store              = (*store.Store)(nil)
	_ inbox.Channels           = (*store.Store)(nil)
	_ inbox.ArchiveForgetter   = (*store.Store)(nil)
	_ oauth.Store              = (*store.Store)(nil)
	_ outbound.Store           = (*store.Store)(nil)
	_ outbound.Channels        = (*store.Store)(nil)
	_ publisher.Reader         = (*store.Store)(nil)
	_ publisher.Items          = store.StreamItems{}
	_ refresher.Store          = (*store.Store)(nil)
	_ sweeper.Store            = (*store.Store)(nil)
)
