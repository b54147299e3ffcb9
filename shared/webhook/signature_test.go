package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestSign(t *testing.T) {
	t.Parallel()
	// HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), RFC 4231-style vector.
	got := Sign([]byte("key"), []byte("The quick brown fox jumps over the lazy dog"))
	want := "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	secret := []byte("dev-app-secret")
	body := []byte(`{"object":"instagram","entry":[{"id":"1","messaging":[{"message":{"text":"Ol\u00e1 \ud83d\udc4b"}}]}]}`)
	valid := Sign(secret, body)
	tests := []struct {
		name   string
		body   []byte
		header string
		want   error
	}{
		{"valid", body, valid, nil},
		{"upper-case hex", body, "sha256=" + strings.ToUpper(valid[7:]), nil},
		{"missing", body, "", ErrSignatureMissing},
		{"tampered body", append([]byte{' '}, body...), valid, ErrSignatureInvalid},
		{"unescaped body", []byte(`{"object":"instagram","entry":[{"id":"1","messaging":[{"message":{"text":"Olá 👋"}}]}]}`), valid, ErrSignatureInvalid},
		{"wrong prefix", body, "sha1=" + valid[7:], ErrSignatureInvalid},
		{"upper-case prefix", body, "SHA256=" + valid[7:], ErrSignatureInvalid},
		{"no prefix", body, valid[7:], ErrSignatureInvalid},
		{"short", body, valid[:len(valid)-2], ErrSignatureInvalid},
		{"long", body, valid + "00", ErrSignatureInvalid},
		{"not hex", body, "sha256=" + strings.Repeat("zz", 32), ErrSignatureInvalid},
		{"wrong secret", body, Sign([]byte("other-secret"), body), ErrSignatureInvalid},
		{"empty body", nil, Sign(secret, nil), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := VerifySignature(secret, tc.body, tc.header)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("VerifySignature = %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), tc.header) && tc.header != "" {
				t.Error("error quotes the header")
			}
		})
	}
}

// FuzzVerifySignature checks VerifySignature against a direct HMAC comparison: it accepts a
// header exactly when it is "sha256=" + the hex HMAC (any case), and never panics.
func FuzzVerifySignature(f *testing.F) {
	secret := []byte(DevAppSecret)
	f.Add([]byte(`{"object":"instagram"}`), Sign(secret, []byte(`{"object":"instagram"}`)))
	f.Add([]byte(""), "sha256=")
	f.Add([]byte("x"), "sha256=zz")
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		err := VerifySignature(secret, body, header)
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		match := strings.HasPrefix(header, "sha256=") && strings.EqualFold(header, want)
		if match != (err == nil) {
			t.Fatalf("VerifySignature(%q) = %v, HMAC match = %v", header, err, match)
		}
		if header == "" && !errors.Is(err, ErrSignatureMissing) {
			t.Fatalf("empty header: %v", err)
		}
		if err := VerifySignature(secret, body, Sign(secret, body)); err != nil {
			t.Fatalf("own signature rejected: %v", err)
		}
	})
}
