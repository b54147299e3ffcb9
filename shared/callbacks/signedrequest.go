package callbacks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limits of a signed request's issued_at.
const (
	// MaxAge: a signed request issued longer ago than this is refused (a replay).
	MaxAge = 24 * time.Hour
	// ClockSkew: how far in the future issued_at may be.
	ClockSkew = 5 * time.Minute
	// maxSignedRequest bounds the field (a real one is a few hundred bytes).
	maxSignedRequest = 8 << 10
)

// ErrSignedRequest is wrapped by every refusal of ParseSignedRequest. Its messages never
// contain the secret, the expected signature or the payload.
var ErrSignedRequest = errors.New("invalid signed_request")

// SignedRequest is the verified payload of Meta's signed_request.
type SignedRequest struct {
	Algorithm string
	IssuedAt  time.Time
	// UserID is the app user's Instagram professional account id (our channel id).
	UserID string
}

// ParseSignedRequest verifies Meta's signed_request "<sig>.<payload>": both base64url (with
// or without padding), sig = HMAC-SHA256 of the encoded payload string keyed with the app
// secret, compared in constant time; the payload's algorithm must be HMAC-SHA256, issued_at
// within MaxAge in the past and ClockSkew in the future, and user_id present.
func ParseSignedRequest(v, appSecret string, now time.Time) (SignedRequest, error) {
	var out SignedRequest
	if appSecret == "" {
		return out, fmt.Errorf("%w: no app secret configured", ErrSignedRequest)
	}
	if v == "" {
		return out, fmt.Errorf("%w: missing", ErrSignedRequest)
	}
	if len(v) > maxSignedRequest {
		return out, fmt.Errorf("%w: too long", ErrSignedRequest)
	}
	encSig, encPayload, ok := strings.Cut(v, ".")
	if !ok || encSig == "" || encPayload == "" || strings.Contains(encPayload, ".") {
		return out, fmt.Errorf("%w: not <signature>.<payload>", ErrSignedRequest)
	}
	sig, err := decodeB64URL(encSig)
	if err != nil || len(sig) != sha256.Size {
		return out, fmt.Errorf("%w: signature is not a base64url HMAC-SHA256", ErrSignedRequest)
	}
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write([]byte(encPayload))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return out, fmt.Errorf("%w: signature mismatch", ErrSignedRequest)
	}
	raw, err := decodeB64URL(encPayload)
	if err != nil {
		return out, fmt.Errorf("%w: payload is not base64url", ErrSignedRequest)
	}
	var p struct {
		Algorithm string          `json:"algorithm"`
		IssuedAt  json.RawMessage `json:"issued_at"`
		UserID    json.RawMessage `json:"user_id"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return out, fmt.Errorf("%w: payload is not a JSON object", ErrSignedRequest)
	}
	if !strings.EqualFold(p.Algorithm, "HMAC-SHA256") {
		return out, fmt.Errorf("%w: unsupported algorithm", ErrSignedRequest)
	}
	issued, err := numberOrString(p.IssuedAt)
	if err != nil {
		return out, fmt.Errorf("%w: issued_at is not a unix time", ErrSignedRequest)
	}
	n, err := strconv.ParseInt(issued, 10, 64)
	if err != nil || n <= 0 {
		return out, fmt.Errorf("%w: issued_at is not a unix time", ErrSignedRequest)
	}
	at := time.Unix(n, 0)
	if now.Sub(at) > MaxAge {
		return out, fmt.Errorf("%w: issued_at is too old", ErrSignedRequest)
	}
	if at.Sub(now) > ClockSkew {
		return out, fmt.Errorf("%w: issued_at is in the future", ErrSignedRequest)
	}
	user, err := numberOrString(p.UserID)
	if err != nil || user == "" || !digits(user) || len(user) > 32 {
		return out, fmt.Errorf("%w: user_id missing or not an id", ErrSignedRequest)
	}
	return SignedRequest{Algorithm: "HMAC-SHA256", IssuedAt: at.UTC(), UserID: user}, nil
}

// SignRequest builds a signed_request for payload the way Meta does (no padding). The
// simulator, fixtures and tests use it.
func SignRequest(appSecret string, payload any) (string, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("sign request: %w", err)
	}
	enc := base64.RawURLEncoding.EncodeToString(raw)
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write([]byte(enc))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)) + "." + enc, nil
}

// decodeB64URL decodes base64url with or without padding.
func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// numberOrString reads a JSON number or a string of digits.
func numberOrString(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", errors.New("missing")
	}
	var s string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", err
	}
	return n.String(), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
