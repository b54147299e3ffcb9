package envelope_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/iginbox/iginbox/shared/envelope"
)

// hostile holds characters SQS (or the local emulator) refuses raw in a message body, and
// others that are easy to get wrong.
var hostile = []string{
	"😂👍😮😢😡👋",
	"👨‍👩‍👧‍👦 👩🏽‍💻 👍🏿 🏳️‍🌈 🇧🇷🇯🇵",
	"مرحبا\u200f بالعالم \u202eolleh\u202c שלום",
	"e\u0301 Z\u0351\u0352\u0353 क्षि",
	"中文 日本語 한국어 𠀋",
	"\ufffe \uffff \ufdd0 \U0010ffff \U0001fffe",
	"\x00 \x01 \x1f \x7f \u0085 \u2028 \u2029 \t\n\r",
	"<b>&amp;</b> \\ \" / \\/",
	strings.Repeat("a😂", 500),
}

func TestEncodeIsASCII(t *testing.T) {
	t.Parallel()
	for _, s := range hostile {
		item, _ := json.Marshal(map[string]string{"text": s})
		// Raw as Meta escapes it and as raw UTF-8 (json.Marshal keeps UTF-8 raw).
		for _, raw := range []json.RawMessage{item, json.RawMessage(`{"text":` + metaEscape(s) + `}`)} {
			e := envelope.Envelope{V: 1, Kind: envelope.KindReaction, AccountID: "1", ContactID: "2", Key: "1|reaction|m|" + s, Raw: raw}
			b, err := envelope.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(b); i++ {
				if b[i] < 0x20 || b[i] > 0x7e {
					t.Fatalf("byte %d of the body is %#x: %q", i, b[i], b)
				}
			}
			got, err := envelope.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			var item struct{ Text string }
			if err := json.Unmarshal(got.Raw, &item); err != nil {
				t.Fatal(err)
			}
			if got.Key != e.Key || item.Text != s {
				t.Errorf("round trip changed the text:\n got %q / %q\nwant %q", got.Key, item.Text, s)
			}
		}
	}
}

// metaEscape writes s as a JSON string the way Meta does: every non-ASCII character escaped
// (surrogate pairs above U+FFFF) and / as \/.
func metaEscape(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r == '/':
			b.WriteString(`\/`)
		case r < 0x20 || r > 0x7e:
			if r >= 0x10000 {
				r -= 0x10000
				writeU(&b, 0xd800+(r>>10))
				writeU(&b, 0xdc00+(r&0x3ff))
				continue
			}
			writeU(&b, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func writeU(b *strings.Builder, r rune) {
	const hex = "0123456789abcdef"
	b.WriteString(`\u`)
	b.WriteByte(hex[r>>12&0xf])
	b.WriteByte(hex[r>>8&0xf])
	b.WriteByte(hex[r>>4&0xf])
	b.WriteByte(hex[r&0xf])
}

// A lone surrogate (an escape Meta could send, or bytes that are not UTF-8) decodes as U+FFFD.
func TestLoneSurrogate(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		`{"text":"a\ud83db"}`:          "a\ufffdb",
		`{"text":"\ude02"}`:            "\ufffd",
		"{\"text\":\"x\xed\xa0\xbd\"}": "x\ufffd\ufffd\ufffd",
		"{\"text\":\"\xff\"}":          "\ufffd",
	} {
		e := envelope.Envelope{V: 1, Kind: envelope.KindMessage, AccountID: "1", ContactID: "2", Key: "k", Raw: json.RawMessage(raw)}
		b, err := envelope.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := envelope.Decode(b)
		if err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		var item struct{ Text string }
		if err := json.Unmarshal(got.Raw, &item); err != nil || item.Text != want {
			t.Errorf("%q: text %q (%v), want %q", raw, item.Text, err, want)
		}
	}
}

// FuzzEncode: for any key and text, the body is printable ASCII and decodes to what
// encoding/json would have given without the escaping.
func FuzzEncode(f *testing.F) {
	for _, s := range hostile {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, key, text string) {
		if key == "" {
			key = "k"
		}
		raw, _ := json.Marshal(map[string]string{"text": text})
		e := envelope.Envelope{V: 1, Kind: envelope.KindMessage, AccountID: "1", ContactID: "2", Key: key, Raw: raw}
		b, err := envelope.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(b); i++ {
			if b[i] < 0x20 || b[i] > 0x7e {
				t.Fatalf("byte %d of the body is %#x", i, b[i])
			}
		}
		plain, _ := json.Marshal(e)
		var want envelope.Envelope
		if err := json.Unmarshal(plain, &want); err != nil {
			t.Fatal(err)
		}
		got, err := envelope.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		var gotItem, wantItem struct{ Text string }
		_ = json.Unmarshal(got.Raw, &gotItem)
		_ = json.Unmarshal(want.Raw, &wantItem)
		if got.Key != want.Key || gotItem.Text != wantItem.Text || !utf8.ValidString(got.Key) {
			t.Errorf("decoded %q/%q, want %q/%q", got.Key, gotItem.Text, want.Key, wantItem.Text)
		}
	})
}
