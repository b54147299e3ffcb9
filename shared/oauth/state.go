package oauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Reasons a state is refused.
var (
	errStateMalformed = errors.New("state is malformed")
	errStateForged    = errors.New("state signature does not match")
	errStateExpired   = errors.New("state has expired")
)

// stateSigner signs and verifies OAuth states: "<nonce>.<expiry unix>.<base64url HMAC>".
// The HMAC key is derived from the app secret, so the secret itself never signs anything
// but webhooks and never leaves the process.
type stateSigner struct{ key []byte }

func newStateSigner(appSecret string) stateSigner {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte("iginbox/oauth-state/v1"))
	return stateSigner{key: m.Sum(nil)}
}

func (s stateSigner) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// issue returns a new state expiring at expires.
func (s stateSigner) issue(expires time.Time) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	payload := hex.EncodeToString(b) + "." + strconv.FormatInt(expires.Unix(), 10)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload)), nil
}

// verify checks a state's signature and expiry and returns its nonce and expiry.
func (s stateSigner) verify(state string, now time.Time) (nonce string, expires time.Time, err error) {
	parts := strings.Split(state, ".")
	if len(parts) != 3 || len(parts[0]) != 32 {
		return "", time.Time{}, errStateMalformed
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "", time.Time{}, errStateMalformed
	}
	if !hmac.Equal(sig, s.mac(parts[0]+"."+parts[1])) {
		return "", time.Time{}, errStateForged
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return "", time.Time{}, errStateMalformed
	}
	expires = time.Unix(exp, 0).UTC()
	if !now.Before(expires) {
		return "", time.Time{}, errStateExpired
	}
	return parts[0], expires, nil
}
