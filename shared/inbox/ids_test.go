package inbox_test

import (
	"testing"

	"github.com/iginbox/iginbox/shared/inbox"
)

// TestIDsAreStable: conversation and message ids are stored and returned by the API; the
// same inputs must always give the same bytes.
func TestIDsAreStable(t *testing.T) {
	t.Parallel()
	if got := inbox.ConversationID("17841400000000001", "1287461239847612", 1); got != "ba2b0d438bb194f750d15787" {
		t.Errorf("ConversationID = %s", got)
	}
	if got := inbox.MessageID("17841400000000001", "aWdfZAG1mid"); got != "25831b678f07fe2034820c1e" {
		t.Errorf("MessageID = %s", got)
	}
}
