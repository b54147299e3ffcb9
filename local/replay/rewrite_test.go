package replay

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRewriteTimestamps(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	nowMS, nowS := now.UnixMilli(), now.Unix()
	tests := []struct {
		name      string
		bodies    []string
		want      []string
		wantShift time.Duration
	}{
		{
			name: "ms item timestamps and ms entry time, gaps kept across bodies",
			bodies: []string{
				`{"object":"instagram","entry":[{"id":"1","time":1700000000500,"messaging":[{"timestamp":1700000000000,"message":{"mid":"a"}}]}]}`,
				`{"object":"instagram","entry":[{"id":"1","time":1700000010000,"standby":[{"timestamp":1700000009000},{"timestamp":1700000010000}]}]}`,
			},
			want: []string{
				`{"entry":[{"id":"1","messaging":[{"message":{"mid":"a"},"timestamp":` + i64(nowMS-10_000) + `}],"time":` + i64(nowMS-9_500) + `}],"object":"instagram"}`,
				`{"entry":[{"id":"1","standby":[{"timestamp":` + i64(nowMS-1_000) + `},{"timestamp":` + i64(nowMS) + `}],"time":` + i64(nowMS) + `}],"object":"instagram"}`,
			},
			wantShift: time.Duration(nowMS-1700000010000) * time.Millisecond,
		},
		{
			name: "seconds stay seconds, strings stay strings",
			bodies: []string{
				`{"entry":[{"time":1700000000,"changes":[{"field":"messages","value":{"timestamp":"1700000030","text":"<b>&"}}]}]}`,
				`{"entry":[{"time":1700000060000,"messaging":[{"timestamp":1700000060000}]}]}`,
			},
			want: []string{
				`{"entry":[{"changes":[{"field":"messages","value":{"text":"<b>&","timestamp":"` + i64(nowS-30) + `"}}],"time":` + i64(nowS-60) + `}]}`,
				`{"entry":[{"messaging":[{"timestamp":` + i64(nowMS) + `}],"time":` + i64(nowMS) + `}]}`,
			},
			wantShift: time.Duration(nowMS-1700000060000) * time.Millisecond,
		},
		{
			name:   "bodies without timestamps are left byte for byte",
			bodies: []string{"{\n  \"object\": \"instagram\", \"entry\": [{\"id\": \"1\", \"timestamp\": 5}]\n}"},
			want:   []string{"{\n  \"object\": \"instagram\", \"entry\": [{\"id\": \"1\", \"timestamp\": 5}]\n}"},
		},
		{
			name: "only the bodies with timestamps are re-serialised",
			bodies: []string{
				`{ "entry": [ { "time": 1700000000000 } ] }`,
				`{ "object": "instagram" }`,
			},
			want: []string{
				`{"entry":[{"time":` + i64(nowMS) + `}]}`,
				`{ "object": "instagram" }`,
			},
			wantShift: time.Duration(nowMS-1700000000000) * time.Millisecond,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bodies := make([]Body, len(tc.bodies))
			for i, b := range tc.bodies {
				bodies[i] = Body{Source: "b", Data: []byte(b)}
			}
			shift, err := RewriteTimestamps(bodies, now)
			if err != nil {
				t.Fatal(err)
			}
			if shift != tc.wantShift {
				t.Errorf("shift = %s, want %s", shift, tc.wantShift)
			}
			for i, b := range bodies {
				if string(b.Data) != tc.want[i] {
					t.Errorf("body %d =\n%s\nwant\n%s", i, b.Data, tc.want[i])
				}
			}
		})
	}
}

func TestRewriteTimestampsKeepsLargeNumbersExact(t *testing.T) {
	t.Parallel()
	body := []Body{{Data: []byte(`{"entry":[{"id":17841400000000001123,"time":1700000000000,"messaging":[{"sender":{"id":9007199254740993},"timestamp":1700000000000}]}]}`)}}
	if _, err := RewriteTimestamps(body, time.UnixMilli(1700000000000)); err != nil {
		t.Fatal(err)
	}
	want := `{"entry":[{"id":17841400000000001123,"messaging":[{"sender":{"id":9007199254740993},"timestamp":1700000000000}],"time":1700000000000}]}`
	if string(body[0].Data) != want {
		t.Errorf("got  %s\nwant %s", body[0].Data, want)
	}
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

// A rewritten body is escaped as Meta escapes (non-ASCII as \u, / as \/), whatever the input's
// spelling, and holds the same text.
func TestRewriteTimestampsEscapesLikeMeta(t *testing.T) {
	t.Parallel()
	text := "Olá 😂 👨‍👩‍👧 مرحبا\u200f \ufffe <b>&</b> a/b"
	raw, _ := json.Marshal(text)
	body := []Body{{Data: []byte(`{"object":"instagram","entry":[{"id":"1","time":1700000000000,"messaging":[{"sender":{"id":"2"},"timestamp":1700000000000,"message":{"mid":"m","text":` + string(raw) + `}}]}]}`)}}
	if _, err := RewriteTimestamps(body, time.UnixMilli(1700000005000)); err != nil {
		t.Fatal(err)
	}
	out := body[0].Data
	for i, c := range out {
		if c < 0x20 || c > 0x7e {
			t.Fatalf("byte %d is %#x: %s", i, c, out)
		}
	}
	if !strings.Contains(string(out), `\ud83d\ude02`) || !strings.Contains(string(out), `a\/b`) || !strings.Contains(string(out), `<b>&<\/b>`) {
		t.Errorf("not escaped like Meta: %s", out)
	}
	var got struct {
		Entry []struct {
			Messaging []struct{ Message struct{ Text string } }
		}
	}
	if err := json.Unmarshal(out, &got); err != nil || got.Entry[0].Messaging[0].Message.Text != text {
		t.Errorf("text changed: %+q (%v)", got, err)
	}
}
