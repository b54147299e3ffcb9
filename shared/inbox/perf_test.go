package inbox_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/store"
)

func meteredFixture(t *testing.T) (*fixture, *store.Meter) {
	t.Helper()
	meter := store.NewMeter()
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, meter.APIOption)
	})
	return newFixtureDB(t, db), meter
}

// TestRoundTripsPerEvent measures DynamoDB round trips and consumed capacity per event kind
// with the SDK middleware, and holds the budget of the hot path: an incoming text from a known
// contact in an open conversation costs 1 round trip (one transaction, written without a
// read); a duplicate costs that refused write, which returns the stored per-mid record.
func TestRoundTripsPerEvent(t *testing.T) {
	t.Parallel()
	f, meter := meteredFixture(t)
	const c = "4001"
	f.handle(text(c, ms(time.Second), mid("warm"), "first"), echo(c, ms(2*time.Second), mid("warm-echo"), "hi"))
	cases := []struct {
		name     string
		item     obj
		account  string
		budget   int // max round trips; 0: reported only
		graphHit bool
	}{
		{name: "message: known contact, open conversation", item: text(c, ms(3*time.Second), mid("hot"), "hot path"), budget: 1},
		{name: "message: duplicate (redelivery)", item: text(c, ms(3*time.Second), mid("hot"), "hot path"), budget: 1},
		{name: "message: new contact (profile + new conversation)", item: text("4002", ms(3*time.Second), mid("new"), "hello"), budget: 2, graphHit: true},
		{name: "echo: from the Instagram app", item: echo(c, ms(4*time.Second), mid("e2"), "reply"), budget: 2},
		{name: "echo: of our own send (duplicate)", item: echo(c, ms(4*time.Second), mid("e2"), "reply"), budget: 1},
		{name: "postback", item: postback(c, ms(5*time.Second), mid("pb"), "Start", "S"), budget: 2},
		{name: "reaction: react", item: reaction(c, ms(6*time.Second), mid("hot"), "react", "❤"), budget: 2},
		{name: "reaction: unreact", item: reaction(c, ms(7*time.Second), mid("hot"), "unreact", ""), budget: 2},
		{name: "reaction: before its message", item: reaction(c, ms(7*time.Second), mid("later"), "react", "❤"), budget: 2},
		{name: "unsend", item: unsend(c, ms(8*time.Second), mid("hot")), budget: 2},
		{name: "unsend: before its message", item: unsend(c, ms(8*time.Second), mid("later2")), budget: 2},
		{name: "read", item: read(c, ms(9*time.Second), mid("e2")), budget: 2},
		{name: "referral", item: referralItem(c, ms(10*time.Second), "promo"), budget: 2},
		{name: "unknown account", item: text("4003", ms(3*time.Second), mid("x"), "?"), account: "17841499999999999", budget: 1},
	}
	var report strings.Builder
	report.WriteString("| event | round trips | capacity units | operations |\n| --- | --- | --- | --- |\n")
	for _, tc := range cases {
		account := tc.account
		if account == "" {
			account = acct
		}
		e := envs(t, account, tc.item)[0]
		meter.Reset()
		label := string(e.Kind)
		if tc.name == "unsend" || strings.HasPrefix(tc.name, "unsend:") {
			label = "unsend"
		}
		if err := f.svc.Handle(context.Background(), e); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		snap := meter.Snapshot()
		u := snap[label]
		if len(snap) != 1 {
			t.Errorf("%s: calls under labels %v, want only %q", tc.name, snap, label)
		}
		var ops []string
		for op, n := range u.Ops {
			ops = append(ops, fmt.Sprintf("%s×%d", op, n))
		}
		fmt.Fprintf(&report, "| %s | %d | %.1f | %s |\n", tc.name, u.RoundTrips, u.Capacity, strings.Join(ops, " "))
		if tc.budget > 0 && u.RoundTrips > tc.budget {
			t.Errorf("%s: %d round trips, budget %d (%v)", tc.name, u.RoundTrips, tc.budget, u.Ops)
		}
		if tc.name == "message: known contact, open conversation" && u.Ops["TransactWriteItems"] != 1 {
			t.Errorf("hot path must write with exactly one transaction: %v", u.Ops)
		}
	}
	t.Logf("DynamoDB cost per event (DynamoDB Local; capacity as it reports it):\n%s", report.String())
}

// BenchmarkIncomingText measures the hot path end to end against DynamoDB Local.
func BenchmarkIncomingText(b *testing.B) {
	meter := store.NewMeter()
	db := dynamodb.NewFromConfig(testenv.AWSConfig(b), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, meter.APIOption)
	})
	f := newFixtureDB(b, db)
	const c = "4100"
	f.handle(text(c, ms(0), mid("b-warm"), "warm"))
	meter.Reset()
	b.ResetTimer()
	for i := range b.N {
		f.handle(text(c, ms(time.Duration(i+1)*time.Millisecond), mid(fmt.Sprint("b", i)), "bench"))
	}
	b.StopTimer()
	u := meter.Snapshot()["message"]
	b.ReportMetric(float64(u.RoundTrips)/float64(b.N), "roundtrips/op")
	b.ReportMetric(u.Capacity/float64(b.N), "capacity/op")
}
