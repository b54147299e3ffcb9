package domain

import (
	"crypto/sha256"
	"encoding/hex"
)

// HashID is the 24-hex id of its parts: SHA-256 over each part followed by a NUL byte,
// truncated. Conversation, message, reply part and reply request ids are HashIDs, so that
// re-deciding names the same item; stored ids depend on it byte for byte.
func HashID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}
