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

	"github.com/iginbox/iginbox/shared/identity"
)

// Reasons a state is refused.
var (
	errStateMalformed = errors.New("state is malformed")
	errStateForged    = errors.New("state signature does not match")
	errStateExpired   = errors.New("state has expired")
	errStateUnbound   = errors.New("state is bound to another browser (no binding cookie)")
)

// stateSigner signs and verifies OAuth states: "<nonce>.<expiry unix>.<base64url HMAC>", or
// "<nonce>.<expiry unix>.b.<base64url HMAC>" for a state bound to a browser: its HMAC also
// covers a random binding value that only that browser holds (in a cookie), so the URL alone
// cannot finish the connection.
// The HMAC key is derived from the app secret, so the secret itself never signs anything
// but webhooks and never leaves the process.
type stateSigner struct{ signer identity.Signer }

func newStateSigner(appSecret string) stateSigner {
	return stateSigner{signer: identity.NewSigner(appSecret, "iginbox/oauth-state/v1")}
}

func (s stateSigner) mac(payload string) []byte { return s.signer.MAC(payload) }

// boundMarker marks a state bound to a browser.
const boundMarker = "b"

func boundPayload(payload, binding string) string {
	sum := sha256.Sum256([]byte(binding))
	return payload + "." + boundMarker + "." + hex.EncodeToString(sum[:])
}

// issue returns a new state expiring at expires, bound to binding when it is not empty.
func (s stateSigner) issue(expires time.Time, binding string) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	payload := hex.EncodeToString(b) + "." + strconv.FormatInt(expires.Unix(), 10)
	if binding != "" {
		return payload + "." + boundMarker + "." + base64.RawURLEncoding.EncodeToString(s.mac(boundPayload(payload, binding))), nil
	}
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload)), nil
}

// verify checks a state's signature and expiry and returns its nonce and expiry. A bound
// state verifies only with the binding it was issued with (the browser's cookie).
func (s stateSigner) verify(state string, now time.Time, binding string) (nonce string, expires time.Time, err error) {
	parts := strings.Split(state, ".")
	bound := len(parts) == 4 && parts[2] == boundMarker
	if (len(parts) != 3 && !bound) || len(parts[0]) != 32 {
		return "", time.Time{}, errStateMalformed
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[len(parts)-1])
	if err != nil {
		return "", time.Time{}, errStateMalformed
	}
	payload := parts[0] + "." + parts[1]
	if bound {
		if binding == "" {
			return "", time.Time{}, errStateUnbound
		}
		payload = boundPayload(payload, binding)
	}
	if !hmac.Equal(sig, s.mac(payload)) {
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
