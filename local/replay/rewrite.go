package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/iginbox/iginbox/local/metasim"
)

// msThreshold separates Meta's millisecond timestamps from second ones: 1e11 ms is 1973,
// 1e11 s is the year 5138.
const msThreshold = 100_000_000_000

// stamp is one Meta timestamp found in a decoded body.
type stamp struct {
	obj      map[string]any
	key      string
	value    int64 // as found
	ms       bool  // value is in milliseconds (else seconds)
	isString bool  // Meta sent it as a JSON string
}

func (s stamp) millis() int64 {
	if s.ms {
		return s.value
	}
	return s.value * 1000
}

// RewriteTimestamps shifts every Meta timestamp in bodies (entry[].time,
// messaging[]/standby[] item timestamp, changes[].value.timestamp) by the same amount, so that
// the newest one becomes now and the gaps between events are kept. Millisecond and second
// values are told apart by magnitude and each keeps its unit and JSON type. Only bodies that
// hold a timestamp are re-serialised, escaped as Meta escapes (metasim.MetaJSON). It returns
// the shift applied.
func RewriteTimestamps(bodies []Body, now time.Time) (time.Duration, error) {
	type decoded struct {
		root   any
		stamps []stamp
	}
	docs := make([]decoded, len(bodies))
	newest := int64(math.MinInt64)
	for i, b := range bodies {
		dec := json.NewDecoder(bytes.NewReader(b.Data))
		dec.UseNumber()
		var root any
		if err := dec.Decode(&root); err != nil {
			return 0, fmt.Errorf("%w: %s: invalid JSON: %v", ErrInput, b.Source, err)
		}
		docs[i] = decoded{root: root, stamps: findStamps(root)}
		for _, s := range docs[i].stamps {
			newest = max(newest, s.millis())
		}
	}
	if newest == math.MinInt64 {
		return 0, nil
	}
	shiftMS := now.UnixMilli() - newest
	// Seconds move by the shift rounded to whole seconds, so second and millisecond values
	// of the same event stay consistent.
	shiftS := int64(math.Round(float64(shiftMS) / 1000))
	for i, d := range docs {
		if len(d.stamps) == 0 {
			continue
		}
		for _, s := range d.stamps {
			v := s.value + shiftS
			if s.ms {
				v = s.value + shiftMS
			}
			if s.isString {
				s.obj[s.key] = strconv.FormatInt(v, 10)
			} else {
				s.obj[s.key] = json.Number(strconv.FormatInt(v, 10))
			}
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(d.root); err != nil {
			return 0, fmt.Errorf("re-encode %s: %w", bodies[i].Source, err)
		}
		// Written back as Meta writes bodies (non-ASCII escaped), whatever the input's spelling.
		bodies[i].Data = metasim.MetaJSON(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	}
	return time.Duration(shiftMS) * time.Millisecond, nil
}

// findStamps returns the Meta timestamps of a webhook body.
func findStamps(root any) []stamp {
	var out []stamp
	add := func(obj map[string]any, key string) {
		if s, ok := readStamp(obj, key); ok {
			out = append(out, s)
		}
	}
	top, ok := root.(map[string]any)
	if !ok {
		return nil
	}
	for _, e := range asObjects(top["entry"]) {
		add(e, "time")
		for _, field := range []string{"messaging", "standby"} {
			for _, item := range asObjects(e[field]) {
				add(item, "timestamp")
			}
		}
		for _, ch := range asObjects(e["changes"]) {
			if v, ok := ch["value"].(map[string]any); ok {
				add(v, "timestamp")
			}
		}
	}
	return out
}

func asObjects(v any) []map[string]any {
	arr, _ := v.([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, x := range arr {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// readStamp reads an integer timestamp, given as a JSON number or a string of digits.
func readStamp(obj map[string]any, key string) (stamp, bool) {
	s := stamp{obj: obj, key: key}
	var text string
	switch v := obj[key].(type) {
	case json.Number:
		text = v.String()
	case string:
		text, s.isString = v, true
	default:
		return stamp{}, false
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n <= 0 {
		return stamp{}, false
	}
	s.value = n
	s.ms = n >= msThreshold
	return s, true
}
