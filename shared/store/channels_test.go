package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/domain"
)

func newChannelTestStore(t testing.TB) *Store {
	t.Helper()
	db := testenv.DynamoDB(t)
	return New(db, testenv.Table(t, db))
}

var chanT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testChannel(id, token string, expires time.Time) domain.Channel {
	return domain.Channel{ID: id, Username: "user_" + id, Name: "Name " + id, AccessToken: token, TokenExpiresAt: expires}
}

func TestConnectChannelCreatesOnceAndReconnectUpdates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newChannelTestStore(t)

	created, err := s.ConnectChannel(ctx, testChannel("1001", "tok-1", chanT0.Add(60*24*time.Hour)), chanT0)
	if err != nil || !created {
		t.Fatalf("first connect: created=%v err=%v", created, err)
	}
	if _, err := s.SetLockToSingleConversation(ctx, "1001", true, chanT0); err != nil {
		t.Fatalf("lock: %v", err)
	}
	if err := s.SetSubscription(ctx, "1001", false, "subscribe failed: (#2) boom", chanT0); err != nil {
		t.Fatalf("set subscription: %v", err)
	}
	if err := s.FlagReauth(ctx, "1001", "token dead: 190", chanT0.Add(time.Hour)); err != nil {
		t.Fatalf("flag: %v", err)
	}
	flagged, err := s.GetChannel(ctx, "1001")
	if err != nil {
		t.Fatal(err)
	}
	if !flagged.ReauthRequired || flagged.ReauthReason != "token dead: 190" || !flagged.ReauthAt.Equal(chanT0.Add(time.Hour)) {
		t.Fatalf("flag not stored: %+v", flagged)
	}
	if due, _, err := s.DueChannels(ctx, chanT0.Add(90*24*time.Hour), 30*24*time.Hour, 0); err != nil || len(due) != 0 {
		t.Fatalf("flagged channel must leave the refresh index: due=%v err=%v", due, err)
	}

	later := chanT0.Add(48 * time.Hour)
	created, err = s.ConnectChannel(ctx, testChannel("1001", "tok-2", later.Add(60*24*time.Hour)), later)
	if err != nil || created {
		t.Fatalf("re-connect: created=%v err=%v", created, err)
	}
	all, err := s.ListChannels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("want exactly one channel, got %d", len(all))
	}
	got := all[0]
	tok, err := s.GetChannelToken(ctx, "1001")
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case got.AccessToken != "":
		t.Error("a listed channel carries its token")
	case tok != "tok-2":
		t.Errorf("token not replaced: %q", tok)
		t.Errorf("token not replaced: %q", got.AccessToken)
	case got.ReauthRequired || got.ReauthReason != "" || !got.ReauthAt.IsZero():
		t.Errorf("reauth not cleared: %+v", got)
	case !got.TokenExpiresAt.Equal(later.Add(60 * 24 * time.Hour)):
		t.Errorf("expiry = %v", got.TokenExpiresAt)
	case !got.ConnectedAt.Equal(chanT0):
		t.Errorf("connected_at changed: %v", got.ConnectedAt)
	case !got.LockToSingleConversation:
		t.Errorf("lock setting lost on re-connect")
	case got.Subscribed || got.SubscribeError != "":
		t.Errorf("subscription must be pending after re-connect: %+v", got)
	}
	due, _, err := s.DueChannels(ctx, later.Add(40*24*time.Hour), 30*24*time.Hour, 24*time.Hour)
	if err != nil || len(due) != 1 {
		t.Fatalf("re-connected channel back in the refresh index: due=%d err=%v", len(due), err)
	}
}

func TestChannelNotFound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newChannelTestStore(t)
	tests := []struct {
		name string
		call func() error
	}{
		{"get", func() error { _, err := s.GetChannel(ctx, "nope"); return err }},
		{"flag", func() error { return s.FlagReauth(ctx, "nope", "x", chanT0) }},
		{"lock", func() error { _, err := s.SetLockToSingleConversation(ctx, "nope", true, chanT0); return err }},
		{"subscription", func() error { return s.SetSubscription(ctx, "nope", true, "", chanT0) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, domain.ErrNotFound) {
				t.Fatalf("want ErrNotFound, got %v", err)
			}
		})
	}
	// Nothing was created by the failed updates.
	if all, err := s.ListChannels(ctx); err != nil || len(all) != 0 {
		t.Fatalf("channels = %v, %v", all, err)
	}
}

func TestConcurrentFirstConnectMakesOneChannel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newChannelTestStore(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	createdCount := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			created, err := s.ConnectChannel(ctx, testChannel("2002", fmt.Sprintf("tok-%d", i), chanT0.Add(time.Hour)), chanT0)
			if err != nil {
				t.Errorf("connect %d: %v", i, err)
			}
			if created {
				mu.Lock()
				createdCount++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	all, err := s.ListChannels(ctx)
	if err != nil || len(all) != 1 || createdCount != 1 {
		t.Fatalf("want one channel created once, got %d channels, created %d times (err %v)", len(all), createdCount, err)
	}
}

func TestUpdateTokenIsConditional(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newChannelTestStore(t)
	if _, err := s.ConnectChannel(ctx, testChannel("3003", "old", chanT0.Add(10*24*time.Hour)), chanT0); err != nil {
		t.Fatal(err)
	}
	// A re-connect replaces the token before the refresher writes.
	if _, err := s.ConnectChannel(ctx, testChannel("3003", "reconnected", chanT0.Add(60*24*time.Hour)), chanT0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateToken(ctx, "3003", "old", "refreshed", chanT0.Add(61*24*time.Hour), chanT0.Add(2*time.Minute)); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("stale refresh must conflict, got %v", err)
	}
	if err := s.FlagReauthIfToken(ctx, "3003", "old", "190", chanT0); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("stale flag must conflict, got %v", err)
	}
	ch, err := s.GetChannel(ctx, "3003")
	if err != nil || ch.ReauthRequired {
		t.Fatalf("re-connect lost: %+v %v", ch, err)
	}
	if tok, err := s.GetChannelToken(ctx, "3003"); err != nil || tok != "reconnected" {
		t.Fatalf("re-connect lost the token: %v", err)
	}
	if err := s.UpdateToken(ctx, "3003", "reconnected", "refreshed", chanT0.Add(61*24*time.Hour), chanT0.Add(2*time.Minute)); err != nil {
		t.Fatalf("current refresh: %v", err)
	}
	ch, _ = s.GetChannel(ctx, "3003")
	if tok, _ := s.GetChannelToken(ctx, "3003"); tok != "refreshed" || !ch.TokenExpiresAt.Equal(chanT0.Add(61*24*time.Hour)) {
		t.Fatalf("refresh not stored: %+v", ch)
	}
}

func TestDueChannelsSelection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newChannelTestStore(t)
	now := chanT0.Add(100 * 24 * time.Hour)
	day := 24 * time.Hour
	seed := []struct {
		id          string
		refreshedAt time.Time
		expires     time.Time
		flagged     bool
		due         bool
	}{
		{"a-due", now.Add(-40 * day), now.Add(20 * day), false, true},
		{"b-edge-horizon", now.Add(-30 * day), now.Add(30 * day), false, true},
		{"c-beyond-horizon", now.Add(-10 * day), now.Add(50 * day), false, false},
		{"d-too-young", now.Add(-23 * time.Hour), now.Add(5 * day), false, false},
		{"e-just-24h", now.Add(-24 * time.Hour), now.Add(5 * day), false, true},
		{"f-flagged", now.Add(-40 * day), now.Add(20 * day), true, false},
		{"g-expired", now.Add(-70 * day), now.Add(-day), false, true},
	}
	want := map[string]bool{}
	for _, c := range seed {
		if _, err := s.ConnectChannel(ctx, testChannel(c.id, "tok-"+c.id, c.expires), c.refreshedAt); err != nil {
			t.Fatal(err)
		}
		if c.flagged {
			if err := s.FlagReauth(ctx, c.id, "dead", now); err != nil {
				t.Fatal(err)
			}
		}
		if c.due {
			want[c.id] = true
		}
	}
	due, stats, err := s.DueChannels(ctx, now, 30*day, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, ch := range due {
		got[ch.ID] = true
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("due = %v, want %v", got, want)
	}
	// Only index entries within the horizon are read: the due ones plus the too-young one.
	if stats.ItemsRead != len(want)+1 {
		t.Errorf("items read = %d, want %d", stats.ItemsRead, len(want)+1)
	}
}

// TestDueChannelsReadsOnlyDueItems seeds 10,000 channels of which 100 are due and checks that
// finding them reads about 100 items, not 10,000.
func TestDueChannelsReadsOnlyDueItems(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 10,000 items")
	}
	t.Parallel()
	ctx := context.Background()
	s := newChannelTestStore(t)
	const total, dueCount = 10000, 100
	now := chanT0.Add(200 * 24 * time.Hour)
	items := make([]map[string]types.AttributeValue, 0, total)
	for i := range total {
		id := fmt.Sprintf("178414%011d", i)
		expires := now.Add(time.Duration(31+i%29) * 24 * time.Hour) // beyond the horizon
		if i%(total/dueCount) == 0 {
			expires = now.Add(time.Duration(1+i%29) * 24 * time.Hour)
		}
		ch := testChannel(id, "tok", expires)
		ch.TokenRefreshedAt = expires.Add(-60 * 24 * time.Hour)
		ch.ConnectedAt = ch.TokenRefreshedAt
		av, err := attributevalue.MarshalMap(channelItem{
			PK: channelPK(id), SK: channelSK, GSI1PK: channelsGSI1PK, GSI1SK: ch.ConnectedAt.Format(time.RFC3339Nano),
			GSI2PK: tokenGSI2PK, GSI2SK: tokenSortKey(expires, id), Channel: ch,
		})
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, av)
	}
	batchWrite(t, s, items)

	due, stats, err := s.DueChannels(ctx, now, 30*24*time.Hour, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("channels=%d due=%d items read=%d read capacity units=%.1f pages=%d", total, len(due), stats.ItemsRead, stats.ReadCapacityUnits, stats.Pages)
	if len(due) != dueCount {
		t.Fatalf("due = %d, want %d", len(due), dueCount)
	}
	if stats.ItemsRead > dueCount+5 {
		t.Fatalf("read %d items to find %d due channels", stats.ItemsRead, dueCount)
	}
}

func batchWrite(t *testing.T, s *Store, items []map[string]types.AttributeValue) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for start := 0; start < len(items); start += 25 {
		chunk := items[start:min(start+25, len(items))]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			reqs := make([]types.WriteRequest, len(chunk))
			for i, it := range chunk {
				reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
			}
			pending := map[string][]types.WriteRequest{s.table: reqs}
			for len(pending) > 0 {
				out, err := s.db.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: pending})
				if err != nil {
					t.Errorf("batch write: %v", err)
					return
				}
				pending = out.UnprocessedItems
			}
		}()
	}
	wg.Wait()
}
