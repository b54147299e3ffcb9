package replay

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Summary totals a run.
type Summary struct {
	Deliveries      int // planned deliveries (bodies × repeat)
	Delivered       int // deliveries answered 2xx
	Failed          int
	Events          int // events in all planned deliveries
	EventsDelivered int // events in delivered bodies
	Retries         int
	// Status counts every attempt by HTTP status; transport errors count as "error".
	Status map[string]int
	// Latencies are of every attempt, sorted.
	Latencies []time.Duration
	Failures  []Failure
	Elapsed   time.Duration
}

// Failure is a delivery that failed after its retries.
type Failure struct {
	Source string
	Round  int
	Reason string
}

// Summarize totals results.
func Summarize(results []Result, elapsed time.Duration) Summary {
	s := Summary{Deliveries: len(results), Status: map[string]int{}, Elapsed: elapsed}
	for _, r := range results {
		s.Events += r.Delivery.Body.Events
		if len(r.Attempts) > 1 {
			s.Retries += len(r.Attempts) - 1
		}
		for _, a := range r.Attempts {
			key := "error"
			if a.Status != 0 {
				key = strconv.Itoa(a.Status)
			}
			s.Status[key]++
			s.Latencies = append(s.Latencies, a.Latency)
		}
		if r.OK {
			s.Delivered++
			s.EventsDelivered += r.Delivery.Body.Events
			continue
		}
		s.Failed++
		s.Failures = append(s.Failures, Failure{Source: r.Delivery.Body.Source, Round: r.Delivery.Round, Reason: r.Reason})
	}
	slices.Sort(s.Latencies)
	return s
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of the attempt latencies by the
// nearest-rank method; 0 without attempts.
func (s Summary) Percentile(p float64) time.Duration {
	if len(s.Latencies) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(s.Latencies))))
	rank = min(max(rank, 1), len(s.Latencies))
	return s.Latencies[rank-1]
}

// Write prints the summary for people.
func (s Summary) Write(w io.Writer) {
	fmt.Fprintf(w, "sent %d/%d bodies (%d/%d events) in %s\n",
		s.Delivered, s.Deliveries, s.EventsDelivered, s.Events, s.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  failed:   %d\n", s.Failed)
	fmt.Fprintf(w, "  retries:  %d\n", s.Retries)
	fmt.Fprintf(w, "  statuses: %s\n", s.statusLine())
	if len(s.Latencies) > 0 {
		fmt.Fprintf(w, "  latency:  p50 %s  p95 %s  p99 %s\n",
			roundLatency(s.Percentile(50)), roundLatency(s.Percentile(95)), roundLatency(s.Percentile(99)))
	}
	if len(s.Failures) > 0 {
		fmt.Fprintln(w, "  failures:")
		for _, f := range s.Failures {
			fmt.Fprintf(w, "    %s (round %d): %s\n", f.Source, f.Round, f.Reason)
		}
	}
}

func (s Summary) statusLine() string {
	if len(s.Status) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(s.Status))
	for k := range s.Status {
		keys = append(keys, k)
	}
	sort.Strings(keys) // status codes are three digits; "error" sorts last
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, s.Status[k])
	}
	return strings.Join(parts, " ")
}

func roundLatency(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
