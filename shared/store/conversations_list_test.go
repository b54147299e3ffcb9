package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/store"
)

// seedConversations writes n conversations spread over channels, with activity times that
// collide now and then (ties are ordered by id), every third one resolved. It returns them.
func seedConversations(t *testing.T, s *store.Store, n, channels int) []domain.Conversation {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	convs := make([]domain.Conversation, n)
	for i := range convs {
		ch := fmt.Sprintf("178414%011d", i%channels)
		igsid := fmt.Sprintf("77%013d", i)
		status := domain.StatusOpen
		if i%3 == 0 {
			status = domain.StatusResolved
		}
		ms := int64(1763802000000) + rng.Int64N(int64(n)) // about one tie per conversation pair
		convs[i] = domain.Conversation{ID: domain.HashID("conversation", ch, igsid, "1"), ChannelID: ch, ContactIGSID: igsid,
			Status: status, Seq: 1, LastActivityMS: ms, LastIncomingMS: ms, CreatedAt: time.Unix(0, 0)}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for start := 0; start < n; start += 100 {
		chunk := convs[start:min(start+100, n)]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			tx := new(domain.Tx)
			for _, c := range chunk {
				tx.CreateConversation(c)
			}
			if err := s.Commit(context.Background(), tx); err != nil {
				t.Errorf("seed: %v", err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return convs
}

func newestFirst(convs []domain.Conversation, status string) []string {
	var sel []domain.Conversation
	for _, c := range convs {
		if status == "" || c.Status == status {
			sel = append(sel, c)
		}
	}
	sort.Slice(sel, func(i, j int) bool {
		if sel[i].LastActivityMS != sel[j].LastActivityMS {
			return sel[i].LastActivityMS > sel[j].LastActivityMS
		}
		return sel[i].ID > sel[j].ID
	})
	out := make([]string, len(sel))
	for i, c := range sel {
		out[i] = c.ID
	}
	return out
}

// TestListAllConversationsShardedAndOrdered: the list of every channel's conversations pages
// through a few thousand conversations newest activity first, each exactly once, while
// their index entries spread over ConversationShards partitions (no partition key that every
// conversation update writes).
func TestListAllConversationsShardedAndOrdered(t *testing.T) {
	t.Parallel()
	meter := store.NewMeter()
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t), func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, meter.APIOption) })
	s := store.New(db, testenv.Table(t, db))
	ctx := context.Background()
	const n, channels = 3000, 60
	convs := seedConversations(t, s, n, channels)

	for _, tc := range []struct {
		name   string
		status string
		limit  int
	}{
		{"all, pages of 200", "", 200},
		{"open only, pages of 97", domain.StatusOpen, 97},
		{"resolved only, pages of 200", domain.StatusResolved, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := newestFirst(convs, tc.status)
			var got []string
			after := ""
			pages := 0
			for {
				page, err := s.ListConversations(ctx, domain.ConversationQuery{Status: tc.status, Limit: tc.limit, After: after})
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(page.Conversations) > tc.limit || (page.Next != "" && len(page.Conversations) != tc.limit) {
					t.Fatalf("page %d: %d conversations with next %q (limit %d)", pages, len(page.Conversations), page.Next, tc.limit)
				}
				for _, c := range page.Conversations {
					got = append(got, c.ID)
				}
				if page.Next == "" {
					break
				}
				after = page.Next
			}
			if len(got) != len(want) {
				t.Fatalf("listed %d conversations, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("position %d: %s, want %s (newest activity first, ties by id)", i, got[i], want[i])
				}
			}
			if wantPages := (len(want) + tc.limit - 1) / tc.limit; pages != wantPages {
				t.Fatalf("%d pages, want %d", pages, wantPages)
			}
		})
	}

	// Where the entries are: the index's partition keys and how many conversations each holds.
	perKey := map[string]int{}
	var start map[string]types.AttributeValue
	for {
		out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(s.Table()), IndexName: aws.String(store.IndexGSI2),
			ExclusiveStartKey: start, ProjectionExpression: aws.String("gsi2pk")})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			if v, ok := it["gsi2pk"].(*types.AttributeValueMemberS); ok {
				perKey[v.Value]++
			}
		}
		if start = out.LastEvaluatedKey; start == nil {
			break
		}
	}
	if len(perKey) != store.ConversationShards {
		t.Fatalf("conversations use %d gsi2 partition keys (%v), want %d", len(perKey), perKey, store.ConversationShards)
	}
	for k, c := range perKey {
		if c > 2*n/store.ConversationShards {
			t.Fatalf("partition %s holds %d of %d conversations: more than twice its share", k, c, n)
		}
	}
	t.Logf("gsi2 partitions: %v", perKey)

	// A page costs one Query per shard.
	meter.Reset()
	if _, err := s.ListConversations(ctx, domain.ConversationQuery{Limit: 50}); err != nil {
		t.Fatal(err)
	}
	var queries int
	for _, u := range meter.Snapshot() {
		queries += u.Ops["Query"]
	}
	if queries != store.ConversationShards {
		t.Fatalf("first page of 50: %d queries, want one per shard (%d)", queries, store.ConversationShards)
	}
}
