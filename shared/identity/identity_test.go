package identity_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iginbox/iginbox/shared/identity"
)

func TestKeys(t *testing.T) {
	t.Parallel()
	key, id, prefix, hash, err := identity.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := identity.ParseKey(key); !ok || got != id {
		t.Fatalf("ParseKey(new key) = %q %v, want %q", got, ok, id)
	}
	if prefix != "igk_"+id || strings.Contains(prefix, key[len(prefix):]) || hash != identity.HashKey(key) || strings.Contains(hash, key) {
		t.Errorf("prefix %q / hash %q reveal the key", prefix, hash)
	}
	other, _, _, _, _ := identity.NewKey()
	if other == key {
		t.Error("two keys are equal")
	}
	for _, bad := range []string{"", "igk_", "igk_abc_def", "igk_zzzzzzzzzzzz_" + strings.Repeat("a", 32), "xyz_" + key[4:], key + "x", "dev-api-token"} {
		if _, ok := identity.ParseKey(bad); ok {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}

func TestSessionTokens(t *testing.T) {
	t.Parallel()
	s := identity.NewSessionSigner("secret")
	now := time.Unix(1_790_000_000, 0)
	id, err := identity.NewSessionID()
	if err != nil {
		t.Fatal(err)
	}
	tok := s.Sign(id, now.Add(time.Hour))
	if got, err := s.Verify(tok, now); err != nil || got != id {
		t.Fatalf("Verify = %q %v", got, err)
	}
	cases := map[string]struct {
		token string
		now   time.Time
		want  error
	}{
		"expired":      {tok, now.Add(time.Hour), identity.ErrTokenExpired},
		"other secret": {identity.NewSessionSigner("other").Sign(id, now.Add(time.Hour)), now, identity.ErrTokenForged},
		"expiry moved": {strings.Replace(tok, ".", ".9", 1), now, identity.ErrTokenForged},
		"garbage":      {"a.b", now, identity.ErrTokenMalformed},
		"empty":        {"", now, identity.ErrTokenMalformed},
	}
	for name, c := range cases {
		if _, err := s.Verify(c.token, c.now); err != c.want {
			t.Errorf("%s: err %v, want %v", name, err, c.want)
		}
	}
}

// FuzzVerify: no input panics, and whatever is accepted is exactly what the signer issues.
func FuzzVerify(f *testing.F) {
	s := identity.NewSessionSigner("secret")
	f.Add(s.Sign("0123456789abcdef0123456789abcdef", time.Unix(2e9, 0)))
	f.Add("..")
	f.Add("0123456789abcdef0123456789abcdef.-1.")
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := s.Verify(tok, time.Unix(1e9, 0))
		if err != nil {
			return
		}
		parts := strings.Split(tok, ".")
		exp, perr := strconv.ParseInt(parts[1], 10, 64)
		if perr != nil || s.Sign(id, time.Unix(exp, 0)) != tok {
			t.Fatalf("accepted a token the signer did not issue: %q", tok)
		}
	})
}
