package testenv

// The hostile-character catalogue (events/hostile): webhook bodies whose texts, reactions,
// quick replies, postbacks and attachment titles hold every kind of character Meta can send.
// The helpers below read what each body must produce through the API and compare it code
// point by code point, for the inbox tests and the end-to-end test through the local stack.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

// HostileFiles lists the catalogue's bodies (events/hostile/*.json) under the events dir.
func HostileFiles(eventsDir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(eventsDir, "hostile", "*.json"))
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("no bodies in %s/hostile", eventsDir)
	}
	sort.Strings(files)
	return files, err
}

// Expectation is one value the API must show for a catalogue body: Field of the message Mid.
type Expectation struct {
	MID   string
	Field string // text, quick_reply, postback_title, postback_payload, reaction, attachment_title
	Want  string
}

type hostileItem struct {
	Message *struct {
		MID         string `json:"mid"`
		Text        *string
		QuickReply  *struct{ Payload string } `json:"quick_reply"`
		Attachments []struct {
			Payload struct{ Title string }
		}
	}
	Postback *struct {
		MID, Title, Payload string
	}
	Reaction *struct {
		MID, Emoji string
	}
}

type hostileBody struct {
	Entry []struct {
		Messaging []hostileItem
	}
}

// HostileExpectations decodes a catalogue body with encoding/json (a lone surrogate decodes
// as U+FFFD) and lists what the API must show for it.
func HostileExpectations(body []byte) ([]Expectation, error) {
	var b hostileBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("decode catalogue body: %w", err)
	}
	var out []Expectation
	for _, e := range b.Entry {
		for _, it := range e.Messaging {
			switch {
			case it.Message != nil:
				m := it.Message
				if m.Text != nil {
					out = append(out, Expectation{m.MID, "text", *m.Text})
				}
				if m.QuickReply != nil {
					out = append(out, Expectation{m.MID, "quick_reply", m.QuickReply.Payload})
				}
				for _, a := range m.Attachments {
					if a.Payload.Title != "" {
						out = append(out, Expectation{m.MID, "attachment_title", a.Payload.Title})
					}
				}
			case it.Postback != nil:
				out = append(out, Expectation{it.Postback.MID, "postback_title", it.Postback.Title},
					Expectation{it.Postback.MID, "postback_payload", it.Postback.Payload})
			case it.Reaction != nil:
				out = append(out, Expectation{it.Reaction.MID, "reaction", it.Reaction.Emoji})
			}
		}
	}
	return out, nil
}

// apiMessage is the part of the API's message JSON the catalogue checks.
type apiMessage struct {
	Text       string `json:"text"`
	QuickReply *struct {
		Payload string `json:"payload"`
	} `json:"quick_reply"`
	Postback *struct {
		Title   string `json:"title"`
		Payload string `json:"payload"`
	} `json:"postback"`
	Reactions []struct {
		Emoji string `json:"emoji"`
	} `json:"reactions"`
	Attachments []struct {
		Title string `json:"title"`
	} `json:"attachments"`
}

// CheckHostile compares what the API shows (the JSON of each message, by mid) with the
// expectations and describes every difference (none: nil).
func CheckHostile(byMID map[string]json.RawMessage, exps []Expectation) []string {
	var problems []string
	for _, e := range exps {
		raw, ok := byMID[e.MID]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: no message", e.MID))
			continue
		}
		var m apiMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", e.MID, err))
			continue
		}
		var got string
		switch e.Field {
		case "text":
			got = m.Text
		case "quick_reply":
			if m.QuickReply != nil {
				got = m.QuickReply.Payload
			}
		case "postback_title":
			if m.Postback != nil {
				got = m.Postback.Title
			}
		case "postback_payload":
			if m.Postback != nil {
				got = m.Postback.Payload
			}
		case "reaction":
			for _, r := range m.Reactions {
				got += r.Emoji
			}
		case "attachment_title":
			for _, a := range m.Attachments {
				got += a.Title
			}
		}
		if d := CodePointDiff(got, e.Want); d != "" {
			problems = append(problems, fmt.Sprintf("%s %s: %s", e.MID, e.Field, d))
		}
	}
	return problems
}

// JSONValues encodes every value of m as JSON (API objects, for CheckHostile).
func JSONValues[T any](t testing.TB, m map[string]T) map[string]json.RawMessage {
	t.Helper()
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = b
	}
	return out
}

// CodePointDiff describes the first code point where got and want differ ("" when equal).
func CodePointDiff(got, want string) string {
	if got == want {
		return ""
	}
	g, w := []rune(got), []rune(want)
	for i := 0; i < max(len(g), len(w)); i++ {
		var gr, wr rune = -1, -1
		if i < len(g) {
			gr = g[i]
		}
		if i < len(w) {
			wr = w[i]
		}
		if gr != wr {
			return fmt.Sprintf("code point %d is %s, want %s (%d and %d code points)", i, cp(gr), cp(wr), len(g), len(w))
		}
	}
	return fmt.Sprintf("bytes differ (%q, want %q)", got, want)
}

func cp(r rune) string {
	if r < 0 {
		return "nothing"
	}
	return fmt.Sprintf("U+%04X", r)
}

// RawTwin rewrites a catalogue body as raw UTF-8 (no escapes, as other senders and replays
// may write it), for another contact and with every mid suffixed, so that it is stored as
// distinct messages.
func RawTwin(body []byte, fromContact, toContact, midSuffix string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("decode catalogue body: %w", err)
	}
	var walk func(v any, key string) any
	walk = func(v any, key string) any {
		switch x := v.(type) {
		case map[string]any:
			for k, y := range x {
				x[k] = walk(y, k)
			}
		case []any:
			for i, y := range x {
				x[i] = walk(y, key)
			}
		case string:
			switch {
			case key == "id" && x == fromContact:
				return toContact
			case key == "mid":
				return x + midSuffix
			}
		}
		return v
	}
	root = walk(root, "")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if !utf8.Valid(out) || !strings.ContainsFunc(string(out), func(r rune) bool { return r > 0x7f }) {
		return nil, fmt.Errorf("raw twin holds no raw UTF-8")
	}
	return out, nil
}
