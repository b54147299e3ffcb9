package callbacks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testSecret = "dev-app-secret"

var testNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// sign builds "<sig>.<payload>" for a raw payload with enc (padding variants).
func sign(t testing.TB, secret, payload string, enc *base64.Encoding) string {
	t.Helper()
	p := enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(p))
	return enc.EncodeToString(mac.Sum(nil)) + "." + p
}

func payload(issued time.Time) string {
	return `{"algorithm":"HMAC-SHA256","issued_at":` + itoa(issued.Unix()) + `,"user_id":"17841400000000001"}`
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestParseSignedRequest(t *testing.T) {
	t.Parallel()
	valid := sign(t, testSecret, payload(testNow.Add(-time.Minute)), base64.RawURLEncoding)
	sig, pay, _ := strings.Cut(valid, ".")
	tests := []struct {
		name    string
		in      string
		wantErr string // substring of the reason; "" = valid
	}{
		{"valid, no padding", valid, ""},
		{"valid, padded", sign(t, testSecret, payload(testNow.Add(-time.Minute)), base64.URLEncoding), ""},
		{"valid, padding added to the signature only", sig + "=." + pay, ""},
		{"valid, numeric user_id and string issued_at",
			sign(t, testSecret, `{"algorithm":"HMAC-SHA256","issued_at":"`+itoa(testNow.Unix())+`","user_id":17841400000000001}`, base64.RawURLEncoding), ""},
		{"valid, issued 23 h ago", sign(t, testSecret, payload(testNow.Add(-23*time.Hour)), base64.RawURLEncoding), ""},
		{"valid, issued slightly in the future", sign(t, testSecret, payload(testNow.Add(time.Minute)), base64.RawURLEncoding), ""},
		{"wrong key", sign(t, "another-secret", payload(testNow), base64.RawURLEncoding), "signature mismatch"},
		{"swapped parts", pay + "." + sig, "signature"},
		{"payload changed", sig + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"algorithm":"HMAC-SHA256","issued_at":1,"user_id":"2"}`)), "signature mismatch"},
		{"unknown algorithm", sign(t, testSecret, `{"algorithm":"HMAC-SHA1","issued_at":`+itoa(testNow.Unix())+`,"user_id":"1"}`, base64.RawURLEncoding), "algorithm"},
		{"no algorithm", sign(t, testSecret, `{"issued_at":`+itoa(testNow.Unix())+`,"user_id":"1"}`, base64.RawURLEncoding), "algorithm"},
		{"stale issued_at", sign(t, testSecret, payload(testNow.Add(-25*time.Hour)), base64.RawURLEncoding), "too old"},
		{"issued_at far in the future", sign(t, testSecret, payload(testNow.Add(time.Hour)), base64.RawURLEncoding), "future"},
		{"no issued_at", sign(t, testSecret, `{"algorithm":"HMAC-SHA256","user_id":"1"}`, base64.RawURLEncoding), "issued_at"},
		{"no user_id", sign(t, testSecret, `{"algorithm":"HMAC-SHA256","issued_at":`+itoa(testNow.Unix())+`}`, base64.RawURLEncoding), "user_id"},
		{"user_id not an id", sign(t, testSecret, `{"algorithm":"HMAC-SHA256","issued_at":`+itoa(testNow.Unix())+`,"user_id":"1/../x"}`, base64.RawURLEncoding), "user_id"},
		{"payload not JSON", sign(t, testSecret, `not json \ud83d\ude02 \u202e`, base64.RawURLEncoding), "JSON"},
		{"payload a JSON array", sign(t, testSecret, `[1,2]`, base64.RawURLEncoding), "JSON"},
		{"empty", "", "missing"},
		{"no dot", sig + pay, "not <signature>.<payload>"},
		{"three parts", valid + ".x", "not <signature>.<payload>"},
		{"empty signature", "." + pay, "not <signature>.<payload>"},
		{"signature not base64", "!!!." + pay, "signature"},
		{"short signature", "YWJj." + pay, "signature"},
		{"garbage", "\x00\xff\ufffe.\u202e", "signature"},
		{"too long", strings.Repeat("a", 9000) + "." + pay, "too long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSignedRequest(tc.in, testSecret, testNow)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got.UserID != "17841400000000001" && got.UserID != "1" {
					t.Errorf("user id %q", got.UserID)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %+v, want a refusal (%s)", got, tc.wantErr)
			}
			if !errors.Is(err, ErrSignedRequest) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want ErrSignedRequest with %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

func TestParseSignedRequestNeedsSecret(t *testing.T) {
	t.Parallel()
	in := sign(t, "", payload(testNow), base64.RawURLEncoding)
	if _, err := ParseSignedRequest(in, "", testNow); err == nil {
		t.Fatal("accepted a request signed with an empty secret while none is configured")
	}
}

func TestSignRequestRoundTrip(t *testing.T) {
	t.Parallel()
	v, err := SignRequest(testSecret, map[string]any{"algorithm": "HMAC-SHA256", "issued_at": testNow.Unix(), "user_id": "17841400000000002"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseSignedRequest(v, testSecret, testNow)
	if err != nil || got.UserID != "17841400000000002" || !got.IssuedAt.Equal(testNow) {
		t.Fatalf("got %+v %v", got, err)
	}
	if strings.Contains(v, "=") {
		t.Errorf("signed request %q is padded; Meta's is not", v)
	}
}

// FuzzParseSignedRequest: whatever arrives, the parser answers without panicking, accepts
// only what carries a valid signature, and never puts the secret in an error.
func FuzzParseSignedRequest(f *testing.F) {
	f.Add(sign(f, testSecret, payload(testNow), base64.RawURLEncoding))
	f.Add(sign(f, testSecret, payload(testNow), base64.URLEncoding))
	f.Add(sign(f, "other", payload(testNow), base64.RawURLEncoding))
	f.Add("a.b")
	f.Add("")
	f.Add("....")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseSignedRequest(in, testSecret, testNow)
		if err != nil {
			if strings.Contains(err.Error(), testSecret) {
				t.Fatalf("error contains the secret: %v", err)
			}
			return
		}
		// Accepted: the signature must verify independently.
		sig, pay, _ := strings.Cut(in, ".")
		raw, derr := base64.RawURLEncoding.DecodeString(strings.TrimRight(sig, "="))
		mac := hmac.New(sha256.New, []byte(testSecret))
		mac.Write([]byte(pay))
		if derr != nil || !hmac.Equal(raw, mac.Sum(nil)) || got.UserID == "" {
			t.Fatalf("accepted %q without a valid signature", in)
		}
	})
}
