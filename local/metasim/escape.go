package metasim

import (
	"bytes"

	"github.com/iginbox/iginbox/shared/envelope"
)

// MetaJSON rewrites compact JSON text the way Meta writes webhook bodies: every non-ASCII
// character as a \u escape (a surrogate pair above U+FFFF) and / as \/; <, > and & stay raw.
// Encode with SetEscapeHTML(false) first. The value is unchanged.
func MetaJSON(b []byte) []byte {
	b = envelope.ASCII(b)
	if bytes.IndexByte(b, '/') < 0 {
		return b
	}
	// In JSON text a / can only be inside a string, where \/ means the same.
	return bytes.ReplaceAll(b, []byte("/"), []byte(`\/`))
}
