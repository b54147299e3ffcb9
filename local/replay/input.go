// Package replay re-delivers recorded Instagram webhook bodies to a webhook URL the way Meta
// delivers them: signed with the app secret (X-Hub-Signature-256 over the raw bytes), retried
// with backoff on 5xx and transport errors, optionally repeated, shuffled, rate limited and
// with Meta's timestamps shifted to now. cmd/replay is its command-line front.
package replay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// StdinInput is the input name that reads bodies from standard input.
const StdinInput = "-"

// ErrInput is wrapped by every error about unusable input (unreadable file, invalid JSON,
// nothing to send).
var ErrInput = errors.New("bad input")

// Body is one webhook body to deliver.
type Body struct {
	// Source names where the body came from: a file, "file:line" for NDJSON, "stdin:line".
	Source string
	// Data is the body exactly as it will be sent and signed.
	Data []byte
	// Events is the number of webhook events it carries (messaging, standby and changes items).
	Events int
}

// Load reads every input in order and returns its bodies. An input is a file, a directory
// (walked recursively; *.json and *.ndjson files in sorted path order) or StdinInput, read
// from stdin. A *.ndjson (or *.jsonl) file holds one body per line, blank lines skipped; any
// other file is one body. Stdin holds one JSON body or NDJSON. Every body is checked to be a
// JSON object before Load returns, so that nothing is sent when any input is bad.
func Load(inputs []string, stdin io.Reader) ([]Body, error) {
	if len(inputs) == 0 {
		return nil, fmt.Errorf("%w: no inputs given", ErrInput)
	}
	var bodies []Body
	stdinUsed := false
	for _, in := range inputs {
		var got []Body
		var err error
		switch {
		case in == StdinInput:
			if stdinUsed {
				return nil, fmt.Errorf("%w: stdin (-) given more than once", ErrInput)
			}
			stdinUsed = true
			got, err = loadStdin(stdin)
		default:
			got, err = loadPath(in)
		}
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, got...)
	}
	if len(bodies) == 0 {
		return nil, fmt.Errorf("%w: no webhook bodies found in %s", ErrInput, strings.Join(inputs, ", "))
	}
	return bodies, nil
}

func loadPath(path string) ([]Body, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	if !info.IsDir() {
		return loadFile(path)
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && isBodyFile(p) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: walk %s: %v", ErrInput, path, err)
	}
	sort.Strings(files)
	var bodies []Body
	for _, f := range files {
		got, err := loadFile(f)
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, got...)
	}
	return bodies, nil
}

// isBodyFile reports whether a directory walk picks up the file.
func isBodyFile(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json", ".ndjson":
		return true
	}
	return false
}

func isNDJSON(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".ndjson", ".jsonl":
		return true
	}
	return false
}

func loadFile(path string) ([]Body, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	if isNDJSON(path) {
		return splitLines(path, data)
	}
	b, err := newBody(path, data)
	if err != nil {
		return nil, err
	}
	return []Body{b}, nil
}

func loadStdin(r io.Reader) ([]Body, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: stdin is not available", ErrInput)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%w: read stdin: %v", ErrInput, err)
	}
	// One JSON value (pretty-printed or not) is one body; anything else is NDJSON.
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && json.Valid(trimmed) {
		b, err := newBody("stdin", trimmed)
		if err != nil {
			return nil, err
		}
		return []Body{b}, nil
	}
	return splitLines("stdin", data)
}

// splitLines reads NDJSON: one body per line, blank lines skipped.
func splitLines(name string, data []byte) ([]Body, error) {
	var bodies []Body
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 64*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		b, err := newBody(fmt.Sprintf("%s:%d", name, n), bytes.Clone(line))
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, b)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", ErrInput, name, err)
	}
	return bodies, nil
}

// newBody validates one body: a JSON object, as Meta sends.
func newBody(source string, data []byte) (Body, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return Body{}, fmt.Errorf("%w: %s: invalid JSON at byte %d: %v", ErrInput, source, syn.Offset, err)
		}
		if !json.Valid(data) {
			return Body{}, fmt.Errorf("%w: %s: invalid JSON: %v", ErrInput, source, err)
		}
		return Body{}, fmt.Errorf("%w: %s: a webhook body must be a JSON object", ErrInput, source)
	}
	return Body{Source: source, Data: data, Events: CountEvents(data)}, nil
}

// CountEvents returns the number of webhook events in a body: the messaging, standby and
// changes items of every entry. A body that is not shaped like a Meta webhook counts 0.
func CountEvents(data []byte) int {
	var w struct {
		Entry []struct {
			Messaging []json.RawMessage `json:"messaging"`
			Standby   []json.RawMessage `json:"standby"`
			Changes   []json.RawMessage `json:"changes"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return 0
	}
	n := 0
	for _, e := range w.Entry {
		n += len(e.Messaging) + len(e.Standby) + len(e.Changes)
	}
	return n
}
