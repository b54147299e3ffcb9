package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
)

// SignatureHeader is the header Meta signs every webhook POST with. API Gateway delivers
// header names lower-cased; lookups are case-insensitive anyway.
const SignatureHeader = "X-Hub-Signature-256"

const signaturePrefix = "sha256="

// Signature errors. Neither carries the header's value.
var (
	ErrSignatureMissing = errors.New("signature missing")
	ErrSignatureInvalid = errors.New("signature invalid")
)

// Sign returns the X-Hub-Signature-256 value Meta sends for body: "sha256=<hex HMAC-SHA256>".
// Tests, fixtures and the replay tool use it to sign recorded bodies.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature checks header (an X-Hub-Signature-256 value) against the HMAC-SHA256 of the
// raw body bytes, in constant time. It returns ErrSignatureMissing or ErrSignatureInvalid.
func VerifySignature(secret, body []byte, header string) error {
	_, err := verifyMAC(hmac.New(sha256.New, secret), body, header)
	return err
}

// verifyMAC is VerifySignature with mac, a fresh or Reset HMAC-SHA256 keyed with the app
// secret (the handler reuses them), returning the verified digest: the archive names the body
// with it rather than hashing the body a second time.
func verifyMAC(mac hash.Hash, body []byte, header string) ([]byte, error) {
	if header == "" {
		return nil, ErrSignatureMissing
	}
	hexSum, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok || len(hexSum) != 2*sha256.Size {
		return nil, ErrSignatureInvalid
	}
	var got [sha256.Size]byte
	if _, err := hex.Decode(got[:], []byte(hexSum)); err != nil {
		return nil, ErrSignatureInvalid
	}
	mac.Write(body)
	sum := mac.Sum(make([]byte, 0, sha256.Size))
	if !hmac.Equal(sum, got[:]) {
		return nil, ErrSignatureInvalid
	}
	return sum, nil
}
