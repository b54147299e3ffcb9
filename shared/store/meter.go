package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/iginbox/iginbox/shared/metrics"
)

// Meter counts DynamoDB round trips (HTTP attempts, retries included) and consumed capacity,
// grouped by the label metrics.WithLabel puts on the context (the processor labels each event with its kind).
// Register it on a client with config.WithAPIOptions or dynamodb.Options.APIOptions.
type Meter struct {
	mu     sync.Mutex
	byName map[string]*Usage
}

// Usage is what one label consumed.
type Usage struct {
	RoundTrips int
	Capacity   float64            // capacity units, as DynamoDB reports them
	Ops        map[string]int     // round trips per operation name
	Events     int                // times the label was opened with Begin
	byOp       map[string]float64 // capacity per operation
}

// NewMeter returns an empty meter.
func NewMeter() *Meter { return &Meter{byName: map[string]*Usage{}} }

// APIOption is the stack mutator to pass to config.WithAPIOptions / Options.APIOptions.
func (m *Meter) APIOption(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("IginboxMeter",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleFinalize(ctx, in)
			m.record(metrics.Label(ctx), awsmiddleware.GetOperationName(ctx), consumed(out.Result))
			return out, md, err
		}), middleware.After)
}

// Begin counts one event under label (for per-event averages).
func (m *Meter) Begin(label string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.usage(label).Events++
}

func (m *Meter) usage(label string) *Usage {
	u := m.byName[label]
	if u == nil {
		u = &Usage{Ops: map[string]int{}, byOp: map[string]float64{}}
		m.byName[label] = u
	}
	return u
}

func (m *Meter) record(label, op string, capacity float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.usage(label)
	u.RoundTrips++
	u.Capacity += capacity
	u.Ops[op]++
	u.byOp[op] += capacity
}

// Snapshot returns a copy of the usage per label.
func (m *Meter) Snapshot() map[string]Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Usage, len(m.byName))
	for k, u := range m.byName {
		c := *u
		c.Ops = make(map[string]int, len(u.Ops))
		for op, n := range u.Ops {
			c.Ops[op] = n
		}
		c.byOp = nil
		out[k] = c
	}
	return out
}

// Reset forgets everything counted.
func (m *Meter) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byName = map[string]*Usage{}
}

// Table renders the usage per label as a Markdown table (round trips and capacity per event).
func (m *Meter) Table() string {
	snap := m.Snapshot()
	labels := make([]string, 0, len(snap))
	for l := range snap {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	var b strings.Builder
	b.WriteString("| label | events | round trips/event | capacity units/event | operations |\n| --- | --- | --- | --- | --- |\n")
	for _, l := range labels {
		u := snap[l]
		ev := max(u.Events, 1)
		ops := make([]string, 0, len(u.Ops))
		for op, n := range u.Ops {
			ops = append(ops, fmt.Sprintf("%s×%d", op, n))
		}
		sort.Strings(ops)
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %s |\n", l, u.Events, float64(u.RoundTrips)/float64(ev), u.Capacity/float64(ev), strings.Join(ops, " "))
	}
	return b.String()
}

func sumCapacity(cc []types.ConsumedCapacity) float64 {
	var t float64
	for _, c := range cc {
		if c.CapacityUnits != nil {
			t += *c.CapacityUnits
		}
	}
	return t
}

func one(c *types.ConsumedCapacity) float64 {
	if c == nil || c.CapacityUnits == nil {
		return 0
	}
	return *c.CapacityUnits
}

func consumed(result any) float64 {
	switch r := result.(type) {
	case *dynamodb.GetItemOutput:
		return one(r.ConsumedCapacity)
	case *dynamodb.PutItemOutput:
		return one(r.ConsumedCapacity)
	case *dynamodb.UpdateItemOutput:
		return one(r.ConsumedCapacity)
	case *dynamodb.DeleteItemOutput:
		return one(r.ConsumedCapacity)
	case *dynamodb.QueryOutput:
		return one(r.ConsumedCapacity)
	case *dynamodb.ScanOutput:
		return one(r.ConsumedCapacity)
	case *dynamodb.BatchGetItemOutput:
		return sumCapacity(r.ConsumedCapacity)
	case *dynamodb.BatchWriteItemOutput:
		return sumCapacity(r.ConsumedCapacity)
	case *dynamodb.TransactWriteItemsOutput:
		return sumCapacity(r.ConsumedCapacity)
	case *dynamodb.TransactGetItemsOutput:
		return sumCapacity(r.ConsumedCapacity)
	}
	return 0
}
