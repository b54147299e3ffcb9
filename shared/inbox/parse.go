package inbox

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/iginbox/iginbox/shared/store"
)

// item is a webhook messaging[] (or standby[]) item as Meta sends it. Ids, mids and numbers
// are decoded leniently (a number where a string is expected and the other way round; Meta's
// examples send some timestamps as strings), so that only an item that is not an object, or
// whose known fields hold objects of the wrong shape, fails to decode.
type item struct {
	Sender    struct{ ID flexString } `json:"sender"`
	Recipient struct{ ID flexString } `json:"recipient"`
	Timestamp flexInt                 `json:"timestamp"`
	Message   *struct {
		MID           flexString   `json:"mid"`
		Text          string       `json:"text"`
		Attachments   []attachment `json:"attachments"`
		IsEcho        flexBool     `json:"is_echo"`
		IsDeleted     flexBool     `json:"is_deleted"`
		IsUnsupported flexBool     `json:"is_unsupported"`
		QuickReply    *struct {
			Payload flexString `json:"payload"`
		} `json:"quick_reply"`
		ReplyTo *struct {
			MID   flexString `json:"mid"`
			Story *struct {
				ID  flexString `json:"id"`
				URL string     `json:"url"`
			} `json:"story"`
		} `json:"reply_to"`
		Referral json.RawMessage `json:"referral"`
	} `json:"message"`
	Postback *struct {
		MID     flexString `json:"mid"`
		Title   string     `json:"title"`
		Payload flexString `json:"payload"`
	} `json:"postback"`
	Reaction *struct {
		MID      flexString `json:"mid"`
		Action   string     `json:"action"`
		Reaction string     `json:"reaction"`
		Emoji    string     `json:"emoji"`
	} `json:"reaction"`
	Read *struct {
		MID flexString `json:"mid"`
	} `json:"read"`
	Edit *struct {
		MID     flexString `json:"mid"`
		Text    string     `json:"text"`
		NumEdit flexInt    `json:"num_edit"`
	} `json:"message_edit"`
	Referral json.RawMessage `json:"referral"`
}

// flexString decodes a JSON string or number (as its literal); null is "".
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] != '"' && b[0] != 'n' {
		if !json.Valid(b) || b[0] == '{' || b[0] == '[' {
			return fmt.Errorf("want a string, got %.10s", b)
		}
		*f = flexString(b)
		return nil
	}
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s != nil {
		*f = flexString(*s)
	}
	return nil
}

// flexInt decodes a JSON number or a string holding one; null and "" are 0.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(strings.TrimSpace(s))
	}
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*f = flexInt(n)
		return nil
	}
	x, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(x) || math.Abs(x) >= math.MaxInt64 {
		return fmt.Errorf("want a number, got %.20q", b)
	}
	*f = flexInt(x)
	return nil
}

// flexBool decodes true/false, or the strings "true"/"false"; anything else is false.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	*f = flexBool(s == "true")
	return nil
}

type attachment struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

func parseItem(raw []byte) (item, error) {
	var it item
	if err := json.Unmarshal(raw, &it); err != nil {
		return it, fmt.Errorf("decode webhook item: %w", err)
	}
	return it, nil
}

// attachments converts Meta's attachments, keeping every payload whole: the URL is taken from
// the field that holds it for the type (url, or story_media_url for story mentions).
func attachments(in []attachment) []store.Attachment {
	out := make([]store.Attachment, 0, len(in))
	for _, a := range in {
		var p struct {
			URL           string `json:"url"`
			StoryMediaURL string `json:"story_media_url"`
		}
		_ = json.Unmarshal(a.Payload, &p) // a payload that is not an object keeps its raw form
		u := p.URL
		if u == "" {
			u = p.StoryMediaURL
		}
		typ := a.Type
		if typ == "" {
			typ = "unknown"
		}
		out = append(out, store.Attachment{Type: typ, URL: u, Payload: string(compact(a.Payload))})
	}
	return out
}

func compact(raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return nil
	}
	return raw
}

// referral decodes a referral object (ref, source, type), keeping the raw JSON.
func referral(raw json.RawMessage, ts int64) *store.Referral {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var r struct {
		Ref    string `json:"ref"`
		Source string `json:"source"`
		Type   string `json:"type"`
	}
	_ = json.Unmarshal(raw, &r)
	return &store.Referral{Ref: r.Ref, Source: r.Source, Type: r.Type, Raw: string(raw), MS: ts}
}
