package inbox

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/iginbox/iginbox/shared/domain"
)

// item is a webhook messaging[] (or standby[]) item as Meta sends it. It is decoded
// leniently, so that no message is lost to a field of an unexpected shape: ids, mids, texts
// and numbers accept strings and numbers alike (Meta's examples send some timestamps as
// strings; a value of another shape reads as empty), optional objects of another shape are
// ignored (lenient), and attachments that are not objects are skipped. Only an item that is
// not an object, or whose event object (message, postback, reaction, read, message_edit) is
// not an object, fails to decode.
type item struct {
	Sender    struct{ ID flexString } `json:"sender"`
	Recipient struct{ ID flexString } `json:"recipient"`
	Timestamp flexInt                 `json:"timestamp"`
	Message   *struct {
		MID           flexString     `json:"mid"`
		Text          flexString     `json:"text"`
		Attachments   attachmentList `json:"attachments"`
		IsEcho        flexBool       `json:"is_echo"`
		IsDeleted     flexBool       `json:"is_deleted"`
		IsUnsupported flexBool       `json:"is_unsupported"`
		QuickReply    lenient[struct {
			Payload flexString `json:"payload"`
		}] `json:"quick_reply"`
		ReplyTo lenient[struct {
			MID   flexString `json:"mid"`
			Story *struct {
				ID  flexString `json:"id"`
				URL flexString `json:"url"`
			} `json:"story"`
		}] `json:"reply_to"`
		Referral json.RawMessage `json:"referral"`
	} `json:"message"`
	Postback *struct {
		MID     flexString `json:"mid"`
		Title   flexString `json:"title"`
		Payload flexString `json:"payload"`
	} `json:"postback"`
	Reaction *struct {
		MID      flexString `json:"mid"`
		Action   flexString `json:"action"`
		Reaction flexString `json:"reaction"`
		Emoji    flexString `json:"emoji"`
	} `json:"reaction"`
	Read *struct {
		MID flexString `json:"mid"`
	} `json:"read"`
	Edit *struct {
		MID     flexString `json:"mid"`
		Text    flexString `json:"text"`
		NumEdit flexInt    `json:"num_edit"`
	} `json:"message_edit"`
	Referral json.RawMessage `json:"referral"`
}

// flexString decodes a JSON string, or a number as its literal; null and values of another
// shape (objects, arrays, booleans) read as "".
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0:
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err == nil {
			*f = flexString(s)
		}
	case b[0] == '-' || '0' <= b[0] && b[0] <= '9':
		*f = flexString(b)
	}
	return nil
}

// flexInt decodes a JSON number or a string holding one; anything else reads as 0.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return nil
		}
		b = []byte(strings.TrimSpace(s))
	}
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*f = flexInt(n)
		return nil
	}
	if x, err := strconv.ParseFloat(string(b), 64); err == nil && !math.IsNaN(x) && math.Abs(x) < math.MaxInt64 {
		*f = flexInt(x)
	}
	return nil
}

// flexBool decodes true/false, or the strings "true"/"false"; anything else is false.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	*f = flexBool(s == "true")
	return nil
}

// lenient decodes an optional object: OK reports that it was present with the expected shape
// (a value of another shape is ignored rather than failing the whole item).
type lenient[T any] struct {
	V  T
	OK bool
}

func (l *lenient[T]) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] != '{' {
		return nil // null, or not an object
	}
	var v T
	if err := json.Unmarshal(b, &v); err == nil {
		l.V, l.OK = v, true
	}
	return nil
}

// attachmentList decodes attachments: an array (elements that are not objects skipped) or a
// single object.
type attachmentList []attachment

func (l *attachmentList) UnmarshalJSON(b []byte) error {
	var elems []json.RawMessage
	if len(b) > 0 && b[0] == '{' {
		elems = []json.RawMessage{b}
	} else if err := json.Unmarshal(b, &elems); err != nil {
		return nil
	}
	for _, e := range elems {
		var a attachment
		if len(e) > 0 && e[0] == '{' && json.Unmarshal(e, &a) == nil {
			*l = append(*l, a)
		}
	}
	return nil
}

type attachment struct {
	Type    flexString      `json:"type"`
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
func attachments(in []attachment) []domain.Attachment {
	out := make([]domain.Attachment, 0, len(in))
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
		typ := string(a.Type)
		if typ == "" {
			typ = "unknown"
		}
		out = append(out, domain.Attachment{Type: typ, URL: u, Payload: string(compact(a.Payload))})
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
func referral(raw json.RawMessage, ts int64) *domain.Referral {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var r struct {
		Ref    string `json:"ref"`
		Source string `json:"source"`
		Type   string `json:"type"`
	}
	_ = json.Unmarshal(raw, &r)
	return &domain.Referral{Ref: r.Ref, Source: r.Source, Type: r.Type, Raw: string(raw), MS: ts}
}
