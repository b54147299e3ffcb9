package replay

import "github.com/iginbox/iginbox/shared/webhook"

// SignatureHeader carries Meta's body signature.
const SignatureHeader = webhook.SignatureHeader

// sign returns the X-Hub-Signature-256 value of body, computed by the same code the webhook
// verifies with, so that signer and verifier cannot drift.
func sign(secret, body []byte) string {
	return webhook.Sign(secret, body)
}
