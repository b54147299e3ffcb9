package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/iginbox/iginbox/shared/archive"
	"github.com/iginbox/iginbox/shared/envelope"
)

// countingPutter is an in-memory DynamoDB PutItem: the archive writer runs for real (keys and
// items built, parts split, the write handed to its goroutine), only the network call is left
// out.
type countingPutter struct{ n atomic.Int64 }

func (c *countingPutter) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.n.Add(1)
	return &dynamodb.PutItemOutput{}, nil
}

// countingPublisher accepts everything and only counts (an in-memory Publisher).
type countingPublisher struct{ n atomic.Int64 }

func (c *countingPublisher) Publish(_ context.Context, envs []envelope.Envelope) error {
	c.n.Add(int64(len(envs)))
	return nil
}

// benchBody builds a webhook body of n text messages from events/meta/message-text.json's item,
// each with its own long mid, spread over a few contacts.
func benchBody(tb testing.TB, n int) []byte {
	tb.Helper()
	var one struct {
		Entry []struct {
			Messaging []json.RawMessage `json:"messaging"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(readMeta(tb, "message-text.json"), &one); err != nil {
		tb.Fatal(err)
	}
	it := string(one.Entry[0].Messaging[0])
	var sb strings.Builder
	sb.WriteString(`{"object":"instagram","entry":[{"time":1763802000500,"id":"17841400000000001","messaging":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		s := strings.Replace(it, `"mid":"aWdf`, fmt.Sprintf(`"mid":"aWdf%06d`, i), 1)
		s = strings.Replace(s, `"id":"1287461239847612"`, fmt.Sprintf(`"id":"12874612398476%02d"`, i%50), 1)
		sb.WriteString(s)
	}
	sb.WriteString(`]}]}`)
	return []byte(sb.String())
}

// floorBody is what the floor decodes: every field the handler needs to split and key events.
type floorBody struct {
	Object string `json:"object"`
	Entry  []struct {
		ID        string            `json:"id"`
		Time      int64             `json:"time"`
		Messaging []floorItem       `json:"messaging"`
		Standby   []floorItem       `json:"standby"`
		Changes   []json.RawMessage `json:"changes"`
	} `json:"entry"`
}

type floorID struct {
	ID string `json:"id"`
}

type floorItem struct {
	Sender    floorID `json:"sender"`
	Recipient floorID `json:"recipient"`
	Timestamp int64   `json:"timestamp"`
	Message   *struct {
		Mid       string `json:"mid"`
		IsEcho    bool   `json:"is_echo"`
		IsDeleted bool   `json:"is_deleted"`
	} `json:"message"`
	Reaction *struct {
		Mid      string `json:"mid"`
		Action   string `json:"action"`
		Reaction string `json:"reaction"`
		Emoji    string `json:"emoji"`
	} `json:"reaction"`
	Read     *struct{ Mid string } `json:"read"`
	Postback *struct{ Mid string } `json:"postback"`
	Referral *struct{ Ref string } `json:"referral"`
}

// floor is the least any handler must do with a body: HMAC-SHA256 it and decode it.
func floor(secret, body []byte) error {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	_ = mac.Sum(nil)
	var v floorBody
	return json.Unmarshal(body, &v)
}

// cpuTime is the process's CPU time (user + system, garbage collection included): unlike wall
// time, other processes on a busy machine do not inflate it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// floorRatio measures op against the floor on the same body, interleaving rounds of each so
// that machine noise hits both alike, and returns op CPU time / floor CPU time. It runs inside
// the benchmark with the timer stopped (testing.Benchmark cannot nest in a benchmark).
func floorRatio(tb testing.TB, body []byte, op func()) float64 {
	secret := []byte(testSecret)
	floorOp := func() {
		if err := floor(secret, body); err != nil {
			tb.Fatal(err)
		}
	}
	// Size rounds to about 20 ms of floor work.
	start := cpuTime()
	for range 5 {
		floorOp()
	}
	per := max((cpuTime()-start)/5, time.Microsecond)
	k := max(1, int(20*time.Millisecond/per))
	var tOp, tFloor time.Duration
	for range 20 {
		start = cpuTime()
		for range k {
			op()
		}
		tOp += cpuTime() - start
		start = cpuTime()
		for range k {
			floorOp()
		}
		tFloor += cpuTime() - start
	}
	return float64(tOp) / float64(tFloor)
}

// BenchmarkWebhook drives signed bodies through the real handler (with an in-memory publisher
// and the real archive writer over an in-memory PutItem) and reports x-floor: handler CPU
// time / (HMAC-SHA256 + json.Unmarshal of the same bytes), from interleaved runs of both after
// the timed loop. The target is x-floor ≤ 1.5 with the archive on.
func BenchmarkWebhook(b *testing.B) {
	for _, n := range []int{1, 1000} {
		body := benchBody(b, n)
		req := postRequest(string(body), signed(body))
		for _, archived := range []bool{false, true} {
			b.Run(fmt.Sprintf("events=%d/archive=%t", n, archived), func(b *testing.B) {
				pub := &countingPublisher{}
				puts := &countingPutter{}
				var opts []Option
				if archived {
					opts = append(opts, WithArchive(archive.NewWriter(puts, "table", archive.DefaultDays)))
				}
				h := NewHandler(testSecret, testToken, pub, slog.New(slog.NewJSONHandler(io.Discard, nil)), opts...)
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					resp, err := h.Handle(context.Background(), req)
					if err != nil || resp.StatusCode != 200 {
						b.Fatalf("status %d, %v", resp.StatusCode, err)
					}
				}
				if got := pub.n.Load(); got != int64(n)*int64(b.N) {
					b.Fatalf("published %d events, want %d", got, int64(n)*int64(b.N))
				}
				if archived && puts.n.Load() < int64(b.N) || h.ArchiveFailures() != 0 {
					b.Fatalf("archived %d bodies of %d, %d failures", puts.n.Load(), b.N, h.ArchiveFailures())
				}
				b.StopTimer()
				b.ReportMetric(floorRatio(b, body, func() { _, _ = h.Handle(context.Background(), req) }), "x-floor")
			})
		}
	}
}

// BenchmarkFloor is the floor alone, for reference.
func BenchmarkFloor(b *testing.B) {
	for _, n := range []int{1, 1000} {
		body := benchBody(b, n)
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := floor([]byte(testSecret), body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestBenchBody(t *testing.T) {
	t.Parallel()
	body := benchBody(t, 1000)
	if len(body) > MaxBodyBytes {
		t.Fatalf("1000-event body is %d bytes, over the limit", len(body))
	}
	b, err := Parse(body)
	if err != nil || len(b.Events) != 1000 {
		t.Fatalf("Parse = %d events, %v", len(b.Events), err)
	}
	seen := map[string]bool{}
	for _, env := range b.Events {
		if env.Kind != envelope.KindMessage || seen[env.Key] {
			t.Fatalf("bad or duplicate event %s %s", env.Kind, env.Key)
		}
		seen[env.Key] = true
	}
}
