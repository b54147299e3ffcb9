package replay

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestCountEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want int
	}{
		{name: "messaging, standby and changes of every entry", body: `{"entry":[{"messaging":[{},{}]},{"standby":[{}],"changes":[{},{},{}]}]}`, want: 6},
		{name: "no entry", body: `{"object":"instagram"}`, want: 0},
		{name: "entry of the wrong shape", body: `{"entry":"x"}`, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := CountEvents([]byte(tc.body)); got != tc.want {
				t.Errorf("CountEvents = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	t.Parallel()
	bodies := make([]Body, 10)
	for i := range bodies {
		bodies[i].Source = string(rune('a' + i))
	}
	sources := func(p []Delivery) []string {
		out := make([]string, len(p))
		for i, d := range p {
			out[i] = d.Body.Source
		}
		return out
	}
	plain := sources(Plan(bodies, 2, false, 0))
	if want := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}; !slices.Equal(plain, want) {
		t.Errorf("unshuffled plan = %v", plain)
	}
	one, two := sources(Plan(bodies, 2, true, 99)), sources(Plan(bodies, 2, true, 99))
	if !slices.Equal(one, two) {
		t.Errorf("same seed, different plans: %v / %v", one, two)
	}
	if slices.Equal(one, plain) || slices.Equal(one, sources(Plan(bodies, 2, true, 100))) {
		t.Errorf("shuffle did not depend on the seed: %v", one)
	}
	if !slices.Equal(slices.Sorted(slices.Values(one)), slices.Sorted(slices.Values(plain))) {
		t.Errorf("shuffled plan holds other deliveries: %v", one)
	}
}

func TestLimiter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		rate  float64
		burst int
		calls int
		want  []time.Duration // fake time at which each call returns
	}{
		{name: "burst 1 spaces calls evenly", rate: 5, burst: 1, calls: 4, want: []time.Duration{0, 200 * time.Millisecond, 400 * time.Millisecond, 600 * time.Millisecond}},
		{name: "burst 3 lets 3 go at once", rate: 2, burst: 3, calls: 5, want: []time.Duration{0, 0, 0, 500 * time.Millisecond, time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			start := clock.Now()
			l := NewLimiter(tc.rate, tc.burst, clock.Now, clock.Sleep)
			var got []time.Duration
			for range tc.calls {
				if err := l.Wait(context.Background()); err != nil {
					t.Fatal(err)
				}
				got = append(got, clock.Now().Sub(start))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("grants at %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLimiterCancelled(t *testing.T) {
	t.Parallel()
	l := NewLimiter(0.001, 1, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("first token: %v", err)
	}
	cancel()
	if err := l.Wait(ctx); err == nil {
		t.Error("Wait on an empty bucket returned nil after cancel")
	}
}

func TestSummaryPercentiles(t *testing.T) {
	t.Parallel()
	var s Summary
	for i := 1; i <= 100; i++ {
		s.Latencies = append(s.Latencies, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {95, 95 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}}
	for _, tc := range tests {
		if got := s.Percentile(tc.p); got != tc.want {
			t.Errorf("p%g = %s, want %s", tc.p, got, tc.want)
		}
	}
	if got := (Summary{}).Percentile(50); got != 0 {
		t.Errorf("p50 of nothing = %s", got)
	}
}
