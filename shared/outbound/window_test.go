package outbound_test

import (
	"errors"
	"testing"
	"time"

	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/outbound"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	last := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		age        time.Duration
		humanAgent bool
		wantTag    string
		wantErr    bool
	}{
		{"just now", time.Second, true, "", false},
		{"23h59m: never tagged", 23*time.Hour + 59*time.Minute, true, "", false},
		{"exactly 24h", 24 * time.Hour, true, "", false},
		{"24h1m: HUMAN_AGENT", 24*time.Hour + time.Minute, true, graph.TagHumanAgent, false},
		{"7d: HUMAN_AGENT", 7 * 24 * time.Hour, true, graph.TagHumanAgent, false},
		{"7d1m: refused", 7*24*time.Hour + time.Minute, true, "", true},
		{"24h1m without HUMAN_AGENT: refused", 24*time.Hour + time.Minute, false, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, err := outbound.Decide(last.UnixMilli(), last.Add(tc.age), tc.humanAgent)
			if tc.wantErr {
				if !errors.Is(err, outbound.ErrOutsideWindow) {
					t.Fatalf("err %v, want ErrOutsideWindow", err)
				}
				return
			}
			if err != nil || w.Tag != tc.wantTag || (w.Tag != "") != (w.MessagingType == graph.MessagingTypeTag) {
				t.Errorf("got %+v %v, want tag %q", w, err, tc.wantTag)
			}
		})
	}
	if _, err := outbound.Decide(0, last, true); !errors.Is(err, outbound.ErrOutsideWindow) {
		t.Errorf("a contact who never wrote: %v", err)
	}
}
