package sweeper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
)

// fakeStore holds never-attempted parts per shard; FailUnattempted removes a part, unless it
// is listed in conflicts (the sender began it) or the shard is broken.
type fakeStore struct {
	mu        sync.Mutex
	parts     map[string][]domain.OutgoingPart
	conflicts map[string]bool // message ids
	broken    string          // a shard whose Query fails
	queries   map[string]int
	before    int64
	failed    []domain.SendError
}

func (f *fakeStore) UnattemptedParts(_ context.Context, shard string, beforeMS int64, limit int32) ([]domain.OutgoingPart, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries[shard]++
	f.before = beforeMS
	if shard == f.broken {
		return nil, errors.New("query: throttled")
	}
	var out []domain.OutgoingPart
	for _, p := range f.parts[shard] {
		if p.TimestampMS < beforeMS && len(out) < int(limit) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (f *fakeStore) FailUnattempted(_ context.Context, conversationID, messageSK string, e domain.SendError) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	shard := conversationID[:1]
	for i, p := range f.parts[shard] {
		if p.SK() != messageSK {
			continue
		}
		if f.conflicts[p.ID] {
			return fmt.Errorf("fail %s: %w", messageSK, domain.ErrConflict)
		}
		f.parts[shard] = append(f.parts[shard][:i:i], f.parts[shard][i+1:]...)
		f.failed = append(f.failed, e)
		return nil
	}
	return fmt.Errorf("fail %s: %w", messageSK, domain.ErrConflict)
}

func part(conv string, i int, createdMS int64) domain.OutgoingPart {
	p := domain.OutgoingPart{Message: domain.Message{ID: fmt.Sprintf("%s-%d", conv, i), ConversationID: conv, TimestampMS: createdMS,
		Status: domain.MessageQueued}, RequestID: "r", Part: 0}
	p.StoredSK = domain.OutgoingSK(createdMS, fmt.Sprintf("r%d", i), 0)
	return p
}

func TestRunPagesAndCounts(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	old := now.Add(-2 * time.Hour).UnixMilli()
	f := &fakeStore{parts: map[string][]domain.OutgoingPart{}, conflicts: map[string]bool{}, queries: map[string]int{}}
	for i := range 2*pageSize + 5 { // three pages in shard a
		f.parts["a"] = append(f.parts["a"], part("a00000000000000000000001", i, old+int64(i)))
	}
	f.parts["3"] = []domain.OutgoingPart{part("300000000000000000000002", 0, old), part("300000000000000000000002", 1, now.UnixMilli())}
	f.conflicts["a00000000000000000000001-7"] = true
	sum, err := New(time.Hour, f, slog.New(slog.NewTextHandler(io.Discard, nil)), nil).WithClock(func() time.Time { return now }).Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 2*pageSize+4+1 || sum.Conflicts < 1 {
		t.Errorf("summary %+v", sum)
	}
	if f.before != now.Add(-time.Hour).UnixMilli() {
		t.Errorf("cutoff %d", f.before)
	}
	if len(f.parts["3"]) != 1 || f.parts["3"][0].TimestampMS != now.UnixMilli() {
		t.Errorf("young part swept: %+v", f.parts["3"])
	}
	if len(f.queries) != len(domain.UnattemptedShards) {
		t.Errorf("%d shards queried", len(f.queries))
	}
	for _, e := range f.failed {
		if e.Reason != domain.ReasonEnqueueFailed || e.Code != 0 || e.Message == "" {
			t.Fatalf("error %+v", e)
		}
	}
}

func TestRunStopsOnAPageOfConflicts(t *testing.T) {
	t.Parallel()
	now := time.Now()
	f := &fakeStore{parts: map[string][]domain.OutgoingPart{}, conflicts: map[string]bool{}, queries: map[string]int{}}
	for i := range pageSize { // a full page the index still lists, all begun by the sender
		p := part("b00000000000000000000003", i, now.Add(-2*time.Hour).UnixMilli())
		f.parts["b"] = append(f.parts["b"], p)
		f.conflicts[p.ID] = true
	}
	sum, err := New(0, f, slog.New(slog.NewTextHandler(io.Discard, nil)), nil).Run(context.Background(), nil)
	if err != nil || sum.Failed != 0 || sum.Conflicts != pageSize || f.queries["b"] != 1 {
		t.Errorf("summary %+v, %d queries, %v", sum, f.queries["b"], err)
	}
}

func TestRunReportsAShardErrorAndSweepsTheOthers(t *testing.T) {
	t.Parallel()
	now := time.Now()
	f := &fakeStore{parts: map[string][]domain.OutgoingPart{}, conflicts: map[string]bool{}, queries: map[string]int{}, broken: "0"}
	f.parts["f"] = []domain.OutgoingPart{part("f00000000000000000000004", 0, now.Add(-2*time.Hour).UnixMilli())}
	sum, err := New(time.Hour, f, slog.New(slog.NewTextHandler(io.Discard, nil)), nil).Run(context.Background(), nil)
	if err == nil || sum.Failed != 1 {
		t.Errorf("summary %+v, error %v: want the shard error and the other shard swept", sum, err)
	}
}
