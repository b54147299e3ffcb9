package testenv

import (
	"bytes"
	"sync"
)

// LogBuffer is a goroutine-safe sink for captured log output (slog handlers, EMF writers,
// child processes), read back with String to assert what was, and was not, logged.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
