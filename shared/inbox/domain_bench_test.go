package inbox_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/inbox"
)

// countingStore is an in-memory fake of inbox.Store that answers a known contact with an open
// conversation and no record of the mid, and counts the calls: what the domain asks of the
// store per event, with no I/O in the way.
type countingStore struct {
	state         domain.EventState
	loads, writes atomic.Int64
	items         atomic.Int64
}

func (c *countingStore) LoadEventState(context.Context, string, string, string) (domain.EventState, error) {
	c.loads.Add(1)
	return c.state, nil
}
func (c *countingStore) Commit(_ context.Context, tx *domain.Tx) error {
	c.writes.Add(1)
	c.items.Add(int64(tx.Len()))
	return nil
}
func (c *countingStore) AdvanceReadWatermark(context.Context, string, string, int64) error {
	c.writes.Add(1)
	return nil
}
func (c *countingStore) GetMessage(context.Context, string, string) (domain.Message, error) {
	c.loads.Add(1)
	return domain.Message{}, nil
}
func (c *countingStore) AppendToOpenConversation(context.Context, domain.Message, *domain.Conversation) error {
	c.writes.Add(1)
	c.items.Add(3)
	return nil
}
func (c *countingStore) PutUnknownEvent(context.Context, string, domain.UnknownEvent) error {
	c.writes.Add(1)
	return nil
}

type noChannels struct{}

func (noChannels) FlagReauth(context.Context, string, string, time.Time) error { return nil }

type noProfiles struct{}

func (noProfiles) GetProfile(context.Context, string, string) (graph.Profile, error) {
	return graph.Profile{}, nil
}

// BenchmarkDomainIncomingText is the processor's per-event domain cost on the hot path (an
// incoming text from a known contact in an open conversation): decode the queued envelope,
// parse the item, decide, build the conditional transaction. Store calls are counted, not made;
// the first event reads (nothing remembered yet), every later one is written without a read.
func BenchmarkDomainIncomingText(b *testing.B) {
	now := time.Now()
	conv := inbox.ConversationID(acct, "4200", 1)
	cs := &countingStore{state: domain.EventState{
		Channel:      domain.Channel{ID: acct, Username: "shop", AccessToken: testToken, TokenExpiresAt: now.Add(time.Hour)},
		ChannelFound: true,
		Contact: domain.Contact{ChannelID: acct, IGSID: "4200", Name: "Ann", ProfileStatus: domain.ProfileOK, ProfileFetchedAt: now,
			OpenConversationID: conv, LastConversationID: conv, ConversationSeq: 1, ConvLastActivityMS: 1, ConvLastIncomingMS: 1, Ver: 7},
	}}
	svc := inbox.New(cs, noChannels{}, noProfiles{}, inbox.Config{}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	raw := make([][]byte, 64)
	for i := range raw {
		e := envs(b, acct, text("4200", ms(time.Duration(i+1)*time.Second), mid("bench"+string(rune('a'+i%26))+string(rune('a'+i/26))), "hello there"))[0]
		raw[i], _ = jsonMarshal(e)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		env, err := envelope.Decode(raw[i%len(raw)])
		if err != nil {
			b.Fatal(err)
		}
		if err := svc.Handle(ctx, env); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(cs.loads.Load())/n, "reads/op")
	b.ReportMetric(float64(cs.writes.Load())/n, "writes/op")
	b.ReportMetric(float64(cs.items.Load())/n, "tx-items/op")
	if r, w := cs.loads.Load(), cs.writes.Load(); r > 1 || w != int64(b.N) {
		b.Fatalf("%d reads + %d writes for %d events: want one read (the first event) and one write per event", r, w, b.N)
	}
}

func jsonMarshal(e envelope.Envelope) ([]byte, error) { return json.Marshal(e) }
