package webhook_test

import (
	"fmt"

	"github.com/iginbox/iginbox/shared/webhook"
)

// A signed webhook body is verified, then split into one envelope per event: the envelope
// keeps the item's bytes as Meta sent them and carries the key SQS deduplicates on, the same
// however Meta escaped the text (here an emoji as \ud83d\ude02).
func ExampleParse() {
	secret := []byte("app-secret")
	body := []byte(`{"object":"instagram","entry":[{"id":"17841400000000001","time":1763802000500,"messaging":[` +
		`{"sender":{"id":"1287461239847612"},"recipient":{"id":"17841400000000001"},"timestamp":1763802000123,` +
		`"message":{"mid":"aWdfZAG1","text":"hi \ud83d\ude02"}},` +
		`{"sender":{"id":"1287461239847612"},"recipient":{"id":"17841400000000001"},"timestamp":1763802000200,` +
		`"read":{"mid":"aWdfZAG0"}}]}]}`)
	header := webhook.Sign(secret, body) // what Meta sends in X-Hub-Signature-256

	if err := webhook.VerifySignature(secret, body, header); err != nil {
		fmt.Println("rejected:", err)
		return
	}
	batch, err := webhook.Parse(body)
	if err != nil {
		fmt.Println("malformed:", err)
		return
	}
	fmt.Println(batch.Object, batch.Entries, "entry")
	for _, env := range batch.Events {
		fmt.Println(env.Kind, env.GroupID(), env.Key)
	}
	// Output:
	// instagram 1 entry
	// message 17841400000000001:1287461239847612 17841400000000001|message|aWdfZAG1
	// read 17841400000000001:1287461239847612 17841400000000001|read|aWdfZAG0|1763802000200
}
