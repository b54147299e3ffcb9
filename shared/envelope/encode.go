package envelope

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Encode returns the queue message body of e: JSON in which every character outside printable
// ASCII is written as a \u escape (a character above U+FFFF as its UTF-16 surrogate pair, a
// byte that is not UTF-8 as \ufffd). SQS refuses some characters in a body (U+FFFE, U+FFFF,
// most controls; the local emulator also everything above U+FFFD), and a webhook item can hold
// any of them: escaped, the body is plain ASCII, and decoding it gives back the same strings.
func Encode(e Envelope) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode %s envelope: %w", e.Kind, err)
	}
	return ASCII(b), nil
}

// ASCII rewrites valid JSON text so that it holds only printable ASCII: every non-ASCII
// character (only strings can hold one) becomes a \u escape, a raw control character or DEL
// too. It returns b itself when there is nothing to rewrite. The JSON value is unchanged,
// except that a byte sequence that is not UTF-8 decodes as U+FFFD, as encoding/json would
// decode it anyway.
func ASCII(b []byte) []byte {
	i := 0
	for i < len(b) && b[i] >= 0x20 && b[i] < 0x7f {
		i++
	}
	if i == len(b) {
		return b
	}
	out := make([]byte, i, len(b)+len(b)/4+16)
	copy(out, b[:i])
	for i < len(b) {
		c := b[i]
		if c >= 0x20 && c < 0x7f {
			out = append(out, c)
			i++
			continue
		}
		if c == '\n' || c == '\r' || c == '\t' {
			// Outside strings (JSON forbids them raw inside): whitespace, kept.
			out = append(out, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		i += size
		if r >= 0x10000 {
			r -= 0x10000
			out = appendU(out, 0xd800+(r>>10))
			out = appendU(out, 0xdc00+(r&0x3ff))
			continue
		}
		out = appendU(out, r)
	}
	return out
}

func appendU(out []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	return append(out, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
}
