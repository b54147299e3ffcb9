package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/iginbox/iginbox/shared/envelope"
)

const acct = "17841400000000001"

func itemBody(s string) string {
	return `{"object":"instagram","entry":[{"id":"` + acct + `","time":1763802000500,"messaging":[` + s + `]}]}`
}

func TestParseEvents(t *testing.T) {
	t.Parallel()
	longMid := "aWdf" + strings.Repeat("ZAG1faXRlbToxOklHTWVzc2FnZAUlE", 6)
	type want struct {
		kind    envelope.Kind
		contact string
		ts      int64
		key     string
	}
	tests := []struct {
		name string
		body string
		want []want
	}{
		{"message", itemBody(`{"sender":{"id":"111"},"recipient":{"id":"` + acct + `"},"timestamp":1763802000001,"message":{"mid":"m1","text":"hi"}}`),
			[]want{{envelope.KindMessage, "111", 1763802000001, acct + "|message|m1"}}},
		{"long mid", itemBody(`{"sender":{"id":"111"},"recipient":{"id":"` + acct + `"},"timestamp":1,"message":{"mid":"` + longMid + `"}}`),
			[]want{{envelope.KindMessage, "111", 1000, acct + "|message|" + longMid}}},
		{"escaped mid and id", itemBody(`{"sender":{"id":"1\u0031"},"timestamp":1763802000001,"message":{"mid":"m\/1"}}`),
			[]want{{envelope.KindMessage, "11", 1763802000001, acct + "|message|m/1"}}},
		{"unsend", itemBody(`{"sender":{"id":"111"},"timestamp":1763802000002,"message":{"mid":"m1","is_deleted":true}}`),
			[]want{{envelope.KindMessage, "111", 1763802000002, acct + "|message-deleted|m1"}}},
		{"echo", itemBody(`{"sender":{"id":"` + acct + `"},"recipient":{"id":"222"},"timestamp":1763802000003,"message":{"mid":"m2","is_echo":true,"text":"hello"}}`),
			[]want{{envelope.KindEcho, "222", 1763802000003, acct + "|echo|m2"}}},
		{"is_echo false", itemBody(`{"sender":{"id":"111"},"recipient":{"id":"` + acct + `"},"timestamp":1763802000003,"message":{"mid":"m2","is_echo":false}}`),
			[]want{{envelope.KindMessage, "111", 1763802000003, acct + "|message|m2"}}},
		{"react", itemBody(`{"sender":{"id":"111"},"timestamp":1763802000004,"reaction":{"mid":"m2","action":"react","reaction":"love","emoji":"\u2764"}}`),
			[]want{{envelope.KindReaction, "111", 1763802000004, acct + "|reaction|m2|react|love|❤|1763802000004|111"}}},
		{"unreact", itemBody(`{"sender":{"id":"111"},"timestamp":1763802000005,"reaction":{"mid":"m2","action":"unreact"}}`),
			[]want{{envelope.KindReaction, "111", 1763802000005, acct + "|reaction|m2|unreact|||1763802000005|111"}}},
		{"read", itemBody(`{"sender":{"id":"111"},"timestamp":1763802000006,"read":{"mid":"m2"}}`),
			[]want{{envelope.KindRead, "111", 1763802000006, acct + "|read|m2|1763802000006"}}},
		{"postback", itemBody(`{"sender":{"id":"111"},"timestamp":1763802000007,"postback":{"mid":"m3","title":"Go","payload":"P"}}`),
			[]want{{envelope.KindPostback, "111", 1763802000007, acct + "|postback|m3"}}},
		{"referral", itemBody(`{"sender":{"id":"111"},"timestamp":1763802000008,"referral":{"ref":"bio","source":"IGME","type":"OPEN_THREAD"}}`),
			[]want{{envelope.KindReferral, "111", 1763802000008, acct + "|referral|111|1763802000008|bio"}}},
		{"business unsend (echo with is_deleted)", itemBody(`{"sender":{"id":"` + acct + `"},"recipient":{"id":"222"},"timestamp":1763802000004,"message":{"mid":"m2","is_echo":true,"is_deleted":true}}`),
			[]want{{envelope.KindEcho, "222", 1763802000004, acct + "|echo-deleted|m2"}}},
		{"edit", itemBody(`{"sender":{"id":"111"},"recipient":{"id":"` + acct + `"},"timestamp":1763802000009,"message_edit":{"mid":"m1","text":"x","num_edit":2}}`),
			[]want{{envelope.KindEdit, "111", 1763802000009, acct + "|edit|m1|2|1763802000009"}}},
		{"business edit, num_edit as a string", itemBody(`{"sender":{"id":"` + acct + `"},"recipient":{"id":"222"},"timestamp":"1763802000009","message_edit":{"mid":"m1","text":"x","num_edit":"3"}}`),
			[]want{{envelope.KindEdit, "222", 1763802000009, acct + "|edit|m1|3|1763802000009"}}},
		{"string timestamp", itemBody(`{"sender":{"id":"111"},"recipient":{"id":"` + acct + `"},"timestamp":"1763802000012","postback":{"mid":"m4","title":"Go","payload":"P"}}`),
			[]want{{envelope.KindPostback, "111", 1763802000012, acct + "|postback|m4"}}},
		{"numeric ids", itemBody(`{"sender":{"id":111},"recipient":{"id":` + acct + `},"timestamp":1763802000013,"message":{"mid":"m5"}}`),
			[]want{{envelope.KindMessage, "111", 1763802000013, acct + "|message|m5"}}},
		{"unknown field", itemBody(`{"sender":{"id":"111"},"timestamp":1763802000009,"message_bounce":{"mid":"m1","text":"x"}}`),
			[]want{{envelope.KindUnknown, "111", 1763802000009, ""}}},
		{"message without mid", itemBody(`{"sender":{"id":"111"},"timestamp":1763802000009,"message":{"text":"x"}}`),
			[]want{{envelope.KindUnknown, "111", 1763802000009, ""}}},
		{"no sender", itemBody(`{"recipient":{"id":"` + acct + `"},"timestamp":1763802000010,"message":{"mid":"m9"}}`),
			[]want{{envelope.KindUnknown, "", 1763802000010, ""}}},
		{"echo without recipient", itemBody(`{"sender":{"id":"` + acct + `"},"timestamp":1763802000010,"message":{"mid":"m9","is_echo":true}}`),
			[]want{{envelope.KindUnknown, "", 1763802000010, ""}}},
		{"invalid sender id", itemBody(`{"sender":{"id":"a:b"},"timestamp":1763802000010,"message":{"mid":"m9"}}`),
			[]want{{envelope.KindUnknown, "", 1763802000010, ""}}},
		{"not an object", itemBody(`"surprise"`), []want{{envelope.KindUnknown, "", 1763802000500, ""}}},
		{"timestamp from entry time in seconds", `{"object":"instagram","entry":[{"id":"` + acct + `","time":1763802000,"messaging":[{"sender":{"id":"111"},"message":{"mid":"m1"}}]}]}`,
			[]want{{envelope.KindMessage, "111", 1763802000000, acct + "|message|m1"}}},
		{"standby", `{"object":"instagram","entry":[{"id":"` + acct + `","time":1763802000500,"standby":[{"sender":{"id":"111"},"timestamp":1763802000011,"message":{"mid":"m1"}}]}]}`,
			[]want{{envelope.KindMessage, "111", 1763802000011, acct + "|message|m1"}}},
		{"changes", `{"object":"instagram","entry":[{"id":"` + acct + `","time":1763802000,"changes":[{"field":"messages","value":{"sender":{"id":"12334"}}}]}]}`,
			[]want{{envelope.KindChange, "", 1763802000000, ""}}},
		{"fields in any order, whitespace", "{\n \"entry\" : [ { \"messaging\" : [ { \"message\" : { \"mid\" : \"m1\" } , \"timestamp\" : 5e12 , \"sender\" : { \"id\" : 111 } } ] , \"id\" : \"" + acct + "\" } ] ,\n \"object\" : \"instagram\" }\n",
			[]want{{envelope.KindMessage, "111", 5e12, acct + "|message|m1"}}},
		{"mixed accounts", `{"object":"instagram","entry":[` +
			`{"id":"` + acct + `","time":1763802000500,"messaging":[{"sender":{"id":"111"},"timestamp":1,"message":{"mid":"a"}},{"sender":{"id":"` + acct + `"},"recipient":{"id":"111"},"timestamp":2,"message":{"mid":"b","is_echo":true}}]},` +
			`{"id":"17841400000000002","time":1763802000500,"messaging":[{"sender":{"id":"333"},"timestamp":3,"read":{"mid":"c"}}],"standby":[{"sender":{"id":"444"},"timestamp":4,"message":{"mid":"d"}}]}]}`,
			[]want{
				{envelope.KindMessage, "111", 1000, acct + "|message|a"},
				{envelope.KindEcho, "111", 2000, acct + "|echo|b"},
				{envelope.KindRead, "333", 3000, "17841400000000002|read|c|3000"},
				{envelope.KindMessage, "444", 4000, "17841400000000002|message|d"},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := Parse([]byte(tc.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(b.Events) != len(tc.want) {
				t.Fatalf("%d events, want %d", len(b.Events), len(tc.want))
			}
			for i, w := range tc.want {
				env := b.Events[i]
				if env.Kind != w.kind || env.ContactID != w.contact || env.Timestamp != w.ts {
					t.Errorf("event %d = %s/%q/%d, want %s/%q/%d", i, env.Kind, env.ContactID, env.Timestamp, w.kind, w.contact, w.ts)
				}
				wantKey := w.key
				if wantKey == "" { // hashed keys
					wantKey = env.AccountID + "|" + string(w.kind) + "|" + canonicalHash(env.Raw)
				}
				if env.Key != wantKey {
					t.Errorf("event %d key = %q, want %q", i, env.Key, wantKey)
				}
				if !json.Valid(env.Raw) || !bytes.Contains([]byte(tc.body), env.Raw) {
					t.Errorf("event %d raw %q is not an item of the body", i, env.Raw)
				}
				if env.V != envelope.Version {
					t.Errorf("event %d version %d", i, env.V)
				}
			}
		})
	}
}

func TestParseGroupAndDedupIDs(t *testing.T) {
	t.Parallel()
	body := readMeta(t, "batch-mixed.json")
	b, err := Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	wantGroups := []string{
		"17841400000000001:1287461239847612", "17841400000000001:7712093845120987", "17841400000000001:7712093845120987",
		"17841400000000001:1287461239847612", "17841400000000002:4409182736450192", "17841400000000002:4409182736450192",
		"17841400000000001:4409182736450192",
	}
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	seen := map[string]bool{}
	for i, env := range b.Events {
		if env.GroupID() != wantGroups[i] {
			t.Errorf("event %d group %s, want %s", i, env.GroupID(), wantGroups[i])
		}
		if !hex64.MatchString(env.DedupID()) {
			t.Errorf("event %d dedup id %q is not 64 hex characters", i, env.DedupID())
		}
		if len(env.Key) <= 128 && env.Kind == envelope.KindMessage {
			t.Errorf("fixture mids should exceed 128 characters: key %q", env.Key)
		}
		if seen[env.DedupID()] {
			t.Errorf("event %d: duplicate dedup id", i)
		}
		seen[env.DedupID()] = true
	}
	// Stable across Meta's retries: the same body gives the same ids.
	again, _ := Parse(bytes.Clone(body))
	for i := range b.Events {
		if again.Events[i].DedupID() != b.Events[i].DedupID() {
			t.Errorf("event %d dedup id differs between deliveries", i)
		}
	}
	// A change event without contact lands in the account's "-" group.
	ch, _ := Parse(readMeta(t, "changes-test.json"))
	if got := ch.Events[0].GroupID(); got != acct+":-" {
		t.Errorf("changes group %s", got)
	}
	// Distinct events of one message get distinct dedup ids.
	distinct := map[string]string{}
	for _, name := range []string{"message-text.json", "message-deleted.json", "reaction-react.json", "reaction-unreact.json", "read.json", "echo.json"} {
		p, err := Parse(readMeta(t, name))
		if err != nil {
			t.Fatal(err)
		}
		id := p.Events[0].DedupID()
		if other, dup := distinct[id]; dup {
			t.Errorf("%s and %s share a dedup id", name, other)
		}
		distinct[id] = name
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		wantErr    bool
		wantObject string
	}{
		{"empty", ``, true, ""},
		{"truncated", `{"object":"instagram","entry":[`, true, ""},
		{"trailing garbage", `{"object":"instagram","entry":[]} x`, true, ""},
		{"array", `[]`, true, ""},
		{"no object", `{"entry":[]}`, true, ""},
		{"entry not array", `{"object":"instagram","entry":{}}`, true, ""},
		{"entry item not object", `{"object":"instagram","entry":[1]}`, true, ""},
		{"entry without id", `{"object":"instagram","entry":[{"time":1,"messaging":[]}]}`, true, ""},
		{"messaging not array", `{"object":"instagram","entry":[{"id":"1","messaging":{}}]}`, true, ""},
		{"other object", `{"object":"page","entry":{"whatever":true}}`, false, "page"},
		{"entry null", `{"object":"instagram","entry":null}`, false, "instagram"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := Parse([]byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("Parse err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if err == nil && (b.Object != tc.wantObject || len(b.Events) != 0) {
				t.Errorf("got object %q with %d events", b.Object, len(b.Events))
			}
		})
	}
}

// refItem is what the reference parser extracts: where an item came from and its bytes.
type refItem struct {
	account string
	source  envelope.Source
	raw     []byte
}

// referenceSplit splits body with encoding/json (exact key matching, last duplicate wins),
// independently of Parse's byte walker.
func referenceSplit(body []byte) (object string, items []refItem, err error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return "", nil, err
	}
	object = text(top["object"])
	if object != ObjectInstagram {
		return object, nil, nil
	}
	if isNull(top["entry"]) {
		return object, nil, nil
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(top["entry"], &entries); err != nil {
		return object, nil, err
	}
	for _, e := range entries {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(e, &fields); err != nil || fields == nil {
			return object, nil, fmt.Errorf("entry: %v", err)
		}
		account := text(fields["id"])
		if !validID(account) {
			return object, nil, errors.New("entry id")
		}
		for _, src := range []envelope.Source{envelope.SourceMessaging, envelope.SourceStandby, envelope.SourceChanges} {
			v := fields[string(src)]
			if isNull(v) {
				continue
			}
			var list []json.RawMessage
			if err := json.Unmarshal(v, &list); err != nil {
				return object, nil, err
			}
			for _, it := range list {
				items = append(items, refItem{account, src, it})
			}
		}
	}
	return object, items, nil
}

// FuzzParse checks that Parse never panics, rejects what encoding/json rejects, and splits
// bodies exactly like the encoding/json reference (same items, same bytes, same accounts),
// with envelopes that encode and, when attributable, validate.
func FuzzParse(f *testing.F) {
	f.Add([]byte(itemBody(`{"sender":{"id":"111"},"timestamp":1,"message":{"mid":"m1","is_echo":true}}`)))
	f.Add([]byte(`{"object":"instagram","entry":[{"id":"1","messaging":[{"sender":{"id":"\u0031"},"read":{"mid":"x"}}],"messaging":[]}]}`))
	f.Add([]byte(`{"object":"instagram","entry":[{"id":"1","standby":[1,"a\"b",[],{}],"changes":[null]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if valid(body) != json.Valid(body) {
			t.Fatalf("valid = %v, json.Valid = %v", valid(body), json.Valid(body))
		}
		b, err := Parse(body)
		refObject, refItems, refErr := referenceSplit(body)
		if !json.Valid(body) {
			if err == nil {
				t.Fatalf("Parse accepted invalid JSON")
			}
			return
		}
		if refErr != nil {
			if err == nil && b.Object == ObjectInstagram {
				t.Fatalf("Parse accepted a body the reference rejects (%v)", refErr)
			}
			return
		}
		if err != nil {
			if refObject == "" { // missing object: both treat as malformed
				return
			}
			t.Fatalf("Parse rejected a body the reference splits: %v", err)
		}
		if b.Object != refObject {
			t.Fatalf("object %q, reference %q", b.Object, refObject)
		}
		if len(b.Events) != len(refItems) {
			t.Fatalf("%d events, reference %d", len(b.Events), len(refItems))
		}
		for i, env := range b.Events {
			ref := refItems[i]
			if !bytes.Equal(env.Raw, ref.raw) || env.AccountID != ref.account || env.Source != ref.source {
				t.Fatalf("event %d = %s/%s/%q, reference %s/%s/%q", i, env.AccountID, env.Source, env.Raw, ref.account, ref.source, ref.raw)
			}
			if env.Key == "" || !strings.HasPrefix(env.Key, env.AccountID+"|") {
				t.Fatalf("event %d key %q", i, env.Key)
			}
			enc, err := envelope.Encode(env)
			if err != nil {
				t.Fatalf("event %d does not encode: %v", i, err)
			}
			dec, err := envelope.Decode(enc)
			if env.ContactID != "" || env.Kind == envelope.KindChange {
				if err != nil {
					t.Fatalf("event %d does not round-trip: %v", i, err)
				}
				if dec.Key != env.Key || dec.GroupID() != env.GroupID() {
					t.Fatalf("event %d changed in the round trip", i)
				}
			}
		}
	})
}

func TestValid(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	tooDeep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	for _, s := range []string{
		``, ` `, `{}`, `[]`, `[1,]`, `{"a":1,}`, `{"a"}`, `{"a":}`, `{1:2}`, `"\u12"`, `"\u12g4"`, `"\x"`, "\"\x01\"",
		`"\ud83d\udc4b"`, `-`, `-0`, `01`, `1.`, `1.5e`, `1e+5`, `-1.25E-7`, `tru`, `true`, `nul`, `null `, ` false`,
		`{"a":[1,{"b":null}],"c":"\"\\\/\b\f\n\r\t"}`, `{"a":1}}`, `[1 2]`, "\"\xff\xfe\"", deep, tooDeep,
	} {
		if got, want := valid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("valid(%.40q) = %v, json.Valid = %v", s, got, want)
		}
	}
}

// TestKeysIgnoreEscaping: the same events written with Meta's escapes (\uXXXX, surrogate
// pairs, \/) or as raw UTF-8, with other whitespace and key order, get the same keys, so SQS
// deduplicates a redelivery whatever its spelling; an echo and its unsend, a message and its
// unsend or edit never share a key.
func TestKeysIgnoreEscaping(t *testing.T) {
	t.Parallel()
	escaped := itemBody(`{"sender":{"id":"111"},"recipient":{"id":"` + acct + `"},"timestamp":1763802000004,"reaction":{"mid":"m\/2","action":"react","reaction":"love","emoji":"\ud83d\ude02"}},` +
		`{"sender":{"id":"111"},"timestamp":1763802000008,"referral":{"ref":"caf\u00e9 \ud83c\uddf5\ud83c\uddf9","source":"IGME"}},` +
		`{"sender":{"id":"111"},"timestamp":1763802000009,"message_bounce":{"text":"\u05e9\u05dc\u05d5\u05dd \ufffe","n":1}}`)
	raw := itemBody(`{"sender":{"id":"111"},"recipient":{"id":"` + acct + `"},"timestamp":1763802000004,"reaction":{"mid":"m/2","action":"react","reaction":"love","emoji":"😂"}},` +
		`{"timestamp":1763802000008,"sender":{"id":"111"},"referral":{"ref":"café 🇵🇹","source":"IGME"}},` +
		`{"sender":{"id":"111"},"timestamp":1763802000009,"message_bounce":{"n":1, "text":"שלום \uFFFE"}}`)
	a, err := Parse([]byte(escaped))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Events) != 3 || len(b.Events) != 3 {
		t.Fatalf("%d and %d events, want 3", len(a.Events), len(b.Events))
	}
	for i := range a.Events {
		if a.Events[i].Key != b.Events[i].Key || a.Events[i].DedupID() != b.Events[i].DedupID() {
			t.Errorf("event %d: key %q escaped, %q raw", i, a.Events[i].Key, b.Events[i].Key)
		}
	}
	if a.Events[2].Kind != envelope.KindUnknown {
		t.Errorf("event 2 kind %s, want unknown", a.Events[2].Kind)
	}

	distinct := Batch{}
	for _, item := range []string{
		`{"sender":{"id":"111"},"recipient":{"id":"` + acct + `"},"timestamp":1,"message":{"mid":"m1","text":"a"}}`,
		`{"sender":{"id":"111"},"recipient":{"id":"` + acct + `"},"timestamp":2,"message":{"mid":"m1","is_deleted":true}}`,
		`{"sender":{"id":"111"},"recipient":{"id":"` + acct + `"},"timestamp":3,"message_edit":{"mid":"m1","text":"b","num_edit":1}}`,
		`{"sender":{"id":"111"},"recipient":{"id":"` + acct + `"},"timestamp":4,"message_edit":{"mid":"m1","text":"c","num_edit":2}}`,
		`{"sender":{"id":"` + acct + `"},"recipient":{"id":"111"},"timestamp":5,"message":{"mid":"m1","is_echo":true,"text":"a"}}`,
		`{"sender":{"id":"` + acct + `"},"recipient":{"id":"111"},"timestamp":6,"message":{"mid":"m1","is_echo":true,"is_deleted":true}}`,
	} {
		p, err := Parse([]byte(itemBody(item)))
		if err != nil {
			t.Fatal(err)
		}
		distinct.Events = append(distinct.Events, p.Events...)
	}
	seen := map[string]bool{}
	for _, e := range distinct.Events {
		if seen[e.Key] {
			t.Errorf("key %q shared by two distinct events", e.Key)
		}
		seen[e.Key] = true
	}
}
