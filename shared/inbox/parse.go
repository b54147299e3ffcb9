package inbox

import (
	"encoding/json"
	"fmt"

	"github.com/iginbox/iginbox/shared/store"
)

// item is a webhook messaging[] (or standby[]) item as Meta sends it.
type item struct {
	Sender    struct{ ID string } `json:"sender"`
	Recipient struct{ ID string } `json:"recipient"`
	Timestamp int64               `json:"timestamp"`
	Message   *struct {
		MID           string       `json:"mid"`
		Text          string       `json:"text"`
		Attachments   []attachment `json:"attachments"`
		IsEcho        bool         `json:"is_echo"`
		IsDeleted     bool         `json:"is_deleted"`
		IsUnsupported bool         `json:"is_unsupported"`
		QuickReply    *struct {
			Payload string `json:"payload"`
		} `json:"quick_reply"`
		ReplyTo *struct {
			MID   string `json:"mid"`
			Story *struct {
				ID  string `json:"id"`
				URL string `json:"url"`
			} `json:"story"`
		} `json:"reply_to"`
		Referral json.RawMessage `json:"referral"`
	} `json:"message"`
	Postback *struct {
		MID     string `json:"mid"`
		Title   string `json:"title"`
		Payload string `json:"payload"`
	} `json:"postback"`
	Reaction *struct {
		MID      string `json:"mid"`
		Action   string `json:"action"`
		Reaction string `json:"reaction"`
		Emoji    string `json:"emoji"`
	} `json:"reaction"`
	Read *struct {
		MID string `json:"mid"`
	} `json:"read"`
	Referral json.RawMessage `json:"referral"`
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
