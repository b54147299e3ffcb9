package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/iginbox/iginbox/shared/envelope"
)

// ObjectInstagram is the webhook object iginbox handles; bodies for other objects are ignored.
const ObjectInstagram = "instagram"

// ErrMalformed is wrapped by every error of Parse: the body is not JSON or not a webhook.
// Its messages never quote the body.
var ErrMalformed = errors.New("malformed webhook body")

// Batch is a parsed webhook body.
type Batch struct {
	// Object is the body's "object" field. Events is empty unless it is ObjectInstagram.
	Object string
	// Entries is the number of entry[] items.
	Entries int
	// Events holds one envelope per entry[].messaging[], standby[] and changes[] item, in body
	// order. Each Raw is a sub-slice of the parsed body: keep the body alive and unmodified.
	Events []envelope.Envelope
}

// Parse validates body as JSON and splits a webhook into envelopes. It never re-serialises: each
// envelope's Raw is the item's bytes exactly as Meta sent them. Items of a shape it does not know
// become envelope.KindUnknown envelopes (kept, never dropped); an item whose contact cannot be
// determined gets an empty ContactID (group "<account>:-").
//
// It decodes only the fields needed to split and key the events, with one validation pass (as
// strict as json.Valid) and one light pass over the bytes; FuzzParse checks both against
// encoding/json.
func Parse(body []byte) (Batch, error) {
	if !valid(body) {
		return Batch{}, fmt.Errorf("%w: not valid JSON", ErrMalformed)
	}
	i := skipWS(body, 0)
	if body[i] != '{' {
		return Batch{}, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	// One pass: entries are split as they come, and kept only if "object" (which may come
	// after "entry") turns out to be "instagram". A repeated key's last value wins.
	var (
		object   []byte
		b        Batch
		entryErr error
	)
	walkObject(body, i, func(key []byte, v int) int {
		switch string(key) {
		case "object":
			end := skip(body, v)
			object = body[v:end]
			return end
		case "entry":
			b.Entries, b.Events, entryErr = 0, b.Events[:0], nil
			if body[v] != '[' {
				end := skip(body, v)
				if !isNull(body[v:end]) {
					entryErr = fmt.Errorf("%w: entry is not an array", ErrMalformed)
				}
				return end
			}
			return walkArray(body, v, func(e int) int {
				if entryErr != nil {
					return skip(body, e)
				}
				var end int
				b.Events, end, entryErr = appendEntry(b.Events, b.Entries, body, e)
				b.Entries++
				return end
			})
		}
		return skip(body, v)
	})
	b.Object = text(object)
	if b.Object == "" {
		return Batch{}, fmt.Errorf("%w: missing object", ErrMalformed)
	}
	if b.Object != ObjectInstagram {
		return Batch{Object: b.Object}, nil
	}
	if entryErr != nil {
		return Batch{}, entryErr
	}
	return b, nil
}

// item is what one messaging[]/standby[]/changes[] item yields in the walk.
type item struct {
	raw                                  []byte
	sender, recipient, timestamp         []byte // ids and timestamp values
	message, reaction, read, postback    bool   // which event objects are present
	referral, edit                       bool
	mid, echo, deleted                   []byte // message fields
	reactionMid, action, reactionName    []byte // reaction fields
	emoji, readMid, postbackMid, refName []byte
	editMid, numEdit                     []byte // message_edit fields
}

// appendEntry splits the entry[] item at body[e] and returns the index just past it.
func appendEntry(events []envelope.Envelope, index int, body []byte, e int) ([]envelope.Envelope, int, error) {
	if body[e] != '{' {
		return events, skip(body, e), fmt.Errorf("%w: entry %d is not an object", ErrMalformed, index)
	}
	var (
		id, tm  []byte
		sources [3][]item // messaging, standby, changes
		errs    [3]error  // per source: a repeated key's last value wins
	)
	end := walkObject(body, e, func(key []byte, v int) int {
		src := -1
		switch string(key) {
		case "id":
			end := skip(body, v)
			id = body[v:end]
			return end
		case "time":
			end := skip(body, v)
			tm = body[v:end]
			return end
		case "messaging":
			src = 0
		case "standby":
			src = 1
		case "changes":
			src = 2
		default:
			return skip(body, v)
		}
		sources[src], errs[src] = sources[src][:0], nil
		if body[v] != '[' {
			end := skip(body, v)
			if !isNull(body[v:end]) {
				errs[src] = fmt.Errorf("%w: entry %d: %s is not an array", ErrMalformed, index, key)
			}
			return end
		}
		return walkArray(body, v, func(it int) int {
			if src == 2 {
				end := skip(body, it)
				sources[src] = append(sources[src], item{raw: body[it:end:end]})
				return end
			}
			var x item
			end := walkItem(body, it, &x)
			x.raw = body[it:end:end]
			sources[src] = append(sources[src], x)
			return end
		})
	})
	for _, err := range errs {
		if err != nil {
			return events, end, err
		}
	}
	account := text(id)
	if !validID(account) {
		return events, end, fmt.Errorf("%w: entry %d has no valid id", ErrMalformed, index)
	}
	entryTime := millis(integer(tm))
	for _, x := range sources[0] {
		events = append(events, classify(envelope.SourceMessaging, account, entryTime, &x))
	}
	for _, x := range sources[1] {
		events = append(events, classify(envelope.SourceStandby, account, entryTime, &x))
	}
	for _, x := range sources[2] {
		events = append(events, envelope.Envelope{
			V: envelope.Version, Kind: envelope.KindChange, Source: envelope.SourceChanges,
			AccountID: account, Timestamp: entryTime,
			Key: account + "|change|" + canonicalHash(x.raw), Raw: x.raw,
		})
	}
	return events, end, nil
}

// walkItem reads the fields of the messaging item at body[i] into x and returns its end.
func walkItem(body []byte, i int, x *item) int {
	if body[i] != '{' {
		return skip(body, i)
	}
	// sub reads the listed fields of the object at body[v] (nil targets are reset first);
	// it reports whether the value is an object.
	sub := func(v int, names []string, targets ...*[]byte) (int, bool) {
		for _, t := range targets {
			*t = nil
		}
		if body[v] != '{' {
			return skip(body, v), false
		}
		return walkObject(body, v, func(key []byte, w int) int {
			end := skip(body, w)
			for n, name := range names {
				if string(key) == name {
					*targets[n] = body[w:end]
				}
			}
			return end
		}), true
	}
	return walkObject(body, i, func(key []byte, v int) int {
		var end int
		switch string(key) {
		case "sender":
			end, _ = sub(v, idField, &x.sender)
		case "recipient":
			end, _ = sub(v, idField, &x.recipient)
		case "timestamp":
			end = skip(body, v)
			x.timestamp = body[v:end]
		case "message":
			end, x.message = sub(v, messageFields, &x.mid, &x.echo, &x.deleted)
		case "reaction":
			end, x.reaction = sub(v, reactionFields, &x.reactionMid, &x.action, &x.reactionName, &x.emoji)
		case "read":
			end, x.read = sub(v, midField, &x.readMid)
		case "postback":
			end, x.postback = sub(v, midField, &x.postbackMid)
		case "referral":
			end, x.referral = sub(v, refField, &x.refName)
		case "message_edit":
			end, x.edit = sub(v, editFields, &x.editMid, &x.numEdit)
		default:
			end = skip(body, v)
		}
		return end
	})
}

var (
	idField        = []string{"id"}
	midField       = []string{"mid"}
	refField       = []string{"ref"}
	messageFields  = []string{"mid", "is_echo", "is_deleted"}
	reactionFields = []string{"mid", "action", "reaction", "emoji"}
	editFields     = []string{"mid", "num_edit"}
)

// classify builds the envelope of one messaging[] or standby[] item.
func classify(source envelope.Source, account string, entryTime int64, x *item) envelope.Envelope {
	env := envelope.Envelope{V: envelope.Version, Kind: envelope.KindUnknown, Source: source, AccountID: account, Timestamp: entryTime, Raw: x.raw}
	if t := millis(integer(x.timestamp)); t != 0 {
		env.Timestamp = t
	}
	senderID := text(x.sender)
	if !validID(senderID) {
		senderID = ""
	}
	env.ContactID = senderID
	stamp := strconv.FormatInt(env.Timestamp, 10)
	switch {
	case x.message:
		m := text(x.mid)
		if isTrue(x.echo) {
			env.ContactID = text(x.recipient)
			if !validID(env.ContactID) {
				env.ContactID = ""
			}
			if m != "" && env.ContactID != "" {
				env.Kind, env.Key = envelope.KindEcho, account+"|echo|"+m
				if isTrue(x.deleted) {
					// A business unsend of its own message: its own event, never
					// deduplicated against the echo it erases.
					env.Key = account + "|echo-deleted|" + m
				}
			}
		} else if m != "" && env.ContactID != "" {
			env.Kind, env.Key = envelope.KindMessage, account+"|message|"+m
			if isTrue(x.deleted) {
				env.Key = account + "|message-deleted|" + m
			}
		}
	case x.reaction:
		if m := text(x.reactionMid); m != "" && env.ContactID != "" {
			env.Kind = envelope.KindReaction
			env.Key = account + "|reaction|" + m + "|" + text(x.action) + "|" + text(x.reactionName) + "|" + text(x.emoji) + "|" + stamp + "|" + senderID
		}
	case x.read:
		if m := text(x.readMid); m != "" && env.ContactID != "" {
			env.Kind, env.Key = envelope.KindRead, account+"|read|"+m+"|"+stamp
		}
	case x.postback:
		if m := text(x.postbackMid); m != "" && env.ContactID != "" {
			env.Kind, env.Key = envelope.KindPostback, account+"|postback|"+m
		}
	case x.edit:
		// Sent by whoever edited: the customer, or the business (then the contact is the
		// recipient).
		if senderID == account {
			env.ContactID = text(x.recipient)
			if !validID(env.ContactID) {
				env.ContactID = ""
			}
		}
		if m := text(x.editMid); m != "" && env.ContactID != "" {
			env.Kind = envelope.KindEdit
			env.Key = account + "|edit|" + m + "|" + strconv.FormatInt(integer(x.numEdit), 10) + "|" + stamp
		}
	case x.referral:
		if env.ContactID != "" {
			env.Kind = envelope.KindReferral
			env.Key = account + "|referral|" + senderID + "|" + stamp + "|" + text(x.refName)
		}
	}
	if env.Kind == envelope.KindUnknown {
		env.Key = account + "|unknown|" + canonicalHash(x.raw)
	}
	return env
}

// validID reports whether s is a plausible Instagram id, safe inside an SQS message group id:
// 1 to 64 characters of [0-9A-Za-z._-].
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// millis turns an epoch time in seconds or milliseconds into milliseconds.
func millis(v int64) int64 {
	if v > 0 && v < 1e11 {
		return v * 1000
	}
	return v
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// canonicalHash hashes a JSON value independently of how it was written: escapes (\u00e9 or
// raw UTF-8, \/ or /), whitespace and key order do not change it. Used for the keys of items
// that have no id of their own (unknown shapes, change events), which are rare.
func canonicalHash(raw []byte) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return hashHex(raw)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return hashHex(raw)
	}
	return hashHex(b)
}

// ---- value helpers: each takes a JSON value's bytes (nil when absent) ----

func isNull(v []byte) bool { return len(v) == 0 || string(v) == "null" }
func isTrue(v []byte) bool { return string(v) == "true" }

// text returns a string value, or a number's literal; "" for anything else.
func text(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	switch c := v[0]; {
	case c == '"':
		inner := v[1 : len(v)-1]
		if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			return string(inner)
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return ""
		}
		return s
	case c == '-' || '0' <= c && c <= '9':
		return string(v)
	}
	return ""
}

// integer returns a number value, or a string holding a number (Meta sends some timestamps
// as strings), as int64 (0 when absent, not a number or out of range).
func integer(v []byte) int64 {
	if len(v) >= 2 && v[0] == '"' {
		v = []byte(text(v))
	}
	if len(v) == 0 || !(v[0] == '-' || '0' <= v[0] && v[0] <= '9') {
		return 0
	}
	if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
		return n
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsNaN(f) || f >= math.MaxInt64 || f <= math.MinInt64 {
		return 0
	}
	return int64(f)
}

// ---- a one-pass walker over JSON already checked by valid ----

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// skip returns the index just past the (valid) value at b[i].
func skip(b []byte, i int) int {
	end, _ := validValue(b, i, 0)
	return end
}

// walkObject calls fn with every key (unescaped) of the valid object at b[i] == '{' and the
// index of its value; fn returns the index just past the value. It returns the index just
// past the object.
func walkObject(b []byte, i int, fn func(key []byte, v int) int) int {
	i = skipWS(b, i+1)
	for i < len(b) && b[i] == '"' {
		kEnd, _ := validString(b, i)
		key := b[i+1 : max(kEnd-1, i+1)]
		if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) {
			key = []byte(text(b[i:kEnd]))
		}
		i = skipWS(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return i
		}
		i = skipWS(b, fn(key, skipWS(b, i+1)))
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
		}
	}
	return min(i+1, len(b))
}

// walkArray calls fn with the index of every element of the valid array at b[i] == '['; fn
// returns the index just past the element. It returns the index just past the array.
func walkArray(b []byte, i int, fn func(v int) int) int {
	i = skipWS(b, i+1)
	for i < len(b) && b[i] != ']' {
		i = skipWS(b, fn(i))
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
		}
	}
	return min(i+1, len(b))
}
