// Package identity holds the agent identities of the API: the format of named API keys (shown
// once, stored as a SHA-256 hash with a short visible prefix), the principal a request runs as
// (which channels it may see, whether it may manage keys) and the signed session tokens that
// browser sessions carry in a cookie.
package identity

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
)

// KeyPrefix starts every named key: "igk_<id>_<secret>".
const KeyPrefix = "igk_"

// BootstrapKeyID and BootstrapName name the configured API_TOKEN, the bootstrap admin key.
const (
	BootstrapKeyID = "bootstrap"
	BootstrapName  = "API_TOKEN"
)

// Principal is who a request runs as.
type Principal struct {
	KeyID string
	Name  string
	Admin bool
	// Channels limits the principal to these channels; empty = every channel.
	Channels []string
	// SessionID is set when the request was authenticated by a session cookie.
	SessionID string
}

// Limited reports whether the principal sees only some channels.
func (p Principal) Limited() bool { return len(p.Channels) > 0 }

// Allows reports whether the principal may see the channel.
func (p Principal) Allows(channelID string) bool {
	return !p.Limited() || slices.Contains(p.Channels, channelID)
}

// NewKey returns a fresh key "igk_<id>_<secret>" with its id, its visible prefix and the hash
// to store.
func NewKey() (key, id, prefix, hash string, err error) {
	idb := make([]byte, 6)
	sec := make([]byte, 24)
	if _, err := rand.Read(idb); err != nil {
		return "", "", "", "", err
	}
	if _, err := rand.Read(sec); err != nil {
		return "", "", "", "", err
	}
	id = hex.EncodeToString(idb)
	key = KeyPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(sec)
	return key, id, VisiblePrefix(key), HashKey(key), nil
}

// VisiblePrefix is the part of a key that may be shown after its creation: "igk_<id>".
func VisiblePrefix(key string) string {
	if id, ok := ParseKey(key); ok {
		return KeyPrefix + id
	}
	return ""
}

// ParseKey returns the id of a key shaped like a named key.
func ParseKey(key string) (id string, ok bool) {
	rest, found := strings.CutPrefix(key, KeyPrefix)
	if !found {
		return "", false
	}
	id, secret, found := strings.Cut(rest, "_")
	if !found || len(id) != 12 || len(secret) != 32 {
		return "", false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", false
	}
	return id, true
}

// ValidKeyID reports whether id has the shape of a key id.
func ValidKeyID(id string) bool {
	_, err := hex.DecodeString(id)
	return len(id) == 12 && err == nil
}

// HashKey is the stored hash of a key (hex SHA-256). Keys carry 192 random bits, so a fast
// hash is enough.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// SameHash compares two hashes in constant time.
func SameHash(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

// MaxSessionTTL bounds a browser session.
const MaxSessionTTL = 12 * time.Hour

// Reasons a session token is refused.
var (
	ErrTokenMalformed = errors.New("session token is malformed")
	ErrTokenForged    = errors.New("session token signature does not match")
	ErrTokenExpired   = errors.New("session token has expired")
)

// Signer computes HMAC-SHA256 tags with a key derived from a server secret and a purpose
// label: the secret itself signs nothing, and a tag made for one purpose is worthless for
// another. Session tokens and OAuth states both use it.
type Signer struct{ key []byte }

// NewSigner derives the key of purpose ("iginbox/session/v1") from secret.
func NewSigner(secret, purpose string) Signer {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(purpose))
	return Signer{key: m.Sum(nil)}
}

// MAC returns the tag of payload.
func (s Signer) MAC(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// SessionSigner signs session tokens "<session id>.<expiry unix>.<HMAC>" with a key derived
// from a server secret, so a cookie cannot be forged or have its expiry moved.
type SessionSigner struct{ signer Signer }

// NewSessionSigner derives the signing key from secret.
func NewSessionSigner(secret string) SessionSigner {
	return SessionSigner{signer: NewSigner(secret, "iginbox/session/v1")}
}

func (s SessionSigner) mac(payload string) string {
	return base64.RawURLEncoding.EncodeToString(s.signer.MAC(payload))
}

// NewSessionID returns a random session id (32 hex).
func NewSessionID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// Sign returns the token of a session expiring at expires.
func (s SessionSigner) Sign(sessionID string, expires time.Time) string {
	payload := sessionID + "." + strconv.FormatInt(expires.Unix(), 10)
	return payload + "." + s.mac(payload)
}

// Verify checks a token's signature and expiry and returns its session id.
func (s SessionSigner) Verify(token string, now time.Time) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(parts[0]) != 32 {
		return "", ErrTokenMalformed
	}
	if !hmac.Equal([]byte(parts[2]), []byte(s.mac(parts[0]+"."+parts[1]))) {
		return "", ErrTokenForged
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return "", ErrTokenMalformed
	}
	if !now.Before(time.Unix(exp, 0)) {
		return "", ErrTokenExpired
	}
	return parts[0], nil
}
