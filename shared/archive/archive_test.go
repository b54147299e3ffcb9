package archive_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/archive"
)

// TestWriteRead archives bodies of every size (one item, several parts) across hour buckets
// in DynamoDB Local and reads them back by window and account.
func TestWriteRead(t *testing.T) {
	t.Parallel()
	db := testenv.DynamoDB(t)
	table := testenv.Table(t, db)
	ctx := context.Background()
	w := archive.NewWriter(db, table, 7)
	t0 := time.Date(2026, 11, 22, 9, 59, 59, 0, time.UTC)
	big := []byte(`{"object":"instagram","entry":[{"id":"2","pad":"` + strings.Repeat("x", 1<<20-60) + `"}]}`)
	mac := hmac.New(sha256.New, []byte("app-secret"))
	mac.Write([]byte(`{"n":1}`))
	digest := mac.Sum(nil)
	recs := []archive.Record{
		// The webhook's way: the verified HMAC names the body (received 123 µs into the second:
		// stored to the millisecond).
		{Body: []byte(`{"n":1}`), Digest: digest, ReceivedAt: t0.Add(123 * time.Microsecond), SignatureValid: true, AccountIDs: []string{"1"}},
		{Body: big, ReceivedAt: t0.Add(2 * time.Second), SignatureValid: true, AccountIDs: []string{"2"}},
		{Body: []byte(`{"n":3}`), ReceivedAt: t0.Add(2 * time.Hour), SignatureValid: true, AccountIDs: []string{"1", "2"}},
	}
	for _, r := range recs {
		if err := w.Archive(ctx, r); err != nil {
			t.Fatalf("archive %d bytes: %v", len(r.Body), err)
		}
	}
	tests := []struct {
		name         string
		q            archive.Query
		wantSizes    []int
		wantAccounts string
	}{
		{name: "everything", q: archive.Query{Since: t0.Add(-time.Hour), Until: t0.Add(3 * time.Hour)}, wantSizes: []int{7, len(big), 7}},
		{name: "window edges inclusive", q: archive.Query{Since: t0, Until: t0.Add(2 * time.Second)}, wantSizes: []int{7, len(big)}},
		{name: "account 1", q: archive.Query{Since: t0, Until: t0.Add(3 * time.Hour), AccountID: "1"}, wantSizes: []int{7, 7}},
		{name: "account 2", q: archive.Query{Since: t0, Until: t0.Add(3 * time.Hour), AccountID: "2"}, wantSizes: []int{len(big), 7}},
		{name: "empty hour", q: archive.Query{Since: t0.Add(time.Hour), Until: t0.Add(time.Hour + time.Minute)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := archive.NewReader(db, table).Read(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var sizes []int
			for _, e := range got {
				sizes = append(sizes, len(e.Body))
				if !e.SignatureValid || e.ReceivedAt.IsZero() || e.ReceivedAt.Nanosecond()%int(time.Millisecond) != 0 ||
					len(e.ID) != 2*archive.IDBytes || e.Key != strconv.FormatInt(e.ReceivedAt.UnixMilli(), 10)+"#"+e.ID {
					t.Errorf("entry %s: %+v", e.Key, e)
				}
				// Without a digest the Writer names the body by its SHA-256.
				want := sha256.Sum256(e.Body)
				if bytes.Equal(e.Body, recs[0].Body) {
					want = [32]byte(digest)
				}
				if e.ID != hex.EncodeToString(want[:archive.IDBytes]) {
					t.Errorf("entry %s: id %s, want the first %d bytes of %x", e.Key, e.ID, archive.IDBytes, want)
				}
			}
			if len(sizes) != len(tc.wantSizes) {
				t.Fatalf("sizes %v, want %v", sizes, tc.wantSizes)
			}
			for i := range sizes {
				if sizes[i] != tc.wantSizes[i] {
					t.Fatalf("sizes %v, want %v", sizes, tc.wantSizes)
				}
			}
			for _, e := range got {
				if len(e.Body) == len(big) && !bytes.Equal(e.Body, big) {
					t.Error("multi-part body not re-joined byte for byte")
				}
			}
		})
	}

}

// TestTornBody damages the parts of a multi-part body in DynamoDB Local: the reader reports
// it, never replays a truncated body.
func TestTornBody(t *testing.T) {
	t.Parallel()
	db := testenv.DynamoDB(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	big := []byte(`{"object":"instagram","entry":[{"id":"2","pad":"` + strings.Repeat("x", 1<<20-60) + `"}]}`)
	tests := []struct {
		name   string
		damage func(items []map[string]types.AttributeValue) (put, del []map[string]types.AttributeValue)
	}{
		{name: "middle part lost", damage: func(items []map[string]types.AttributeValue) (put, del []map[string]types.AttributeValue) {
			return nil, items[1:2]
		}},
		{name: "last part lost", damage: func(items []map[string]types.AttributeValue) (put, del []map[string]types.AttributeValue) {
			return nil, items[len(items)-1:]
		}},
		{name: "first part lost", damage: func(items []map[string]types.AttributeValue) (put, del []map[string]types.AttributeValue) {
			return nil, items[:1]
		}},
		{name: "part shortened", damage: func(items []map[string]types.AttributeValue) (put, del []map[string]types.AttributeValue) {
			it := maps.Clone(items[1])
			it["body"] = &types.AttributeValueMemberB{Value: []byte("short")}
			return []map[string]types.AttributeValue{it}, nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			table := testenv.Table(t, db)
			if err := archive.NewWriter(db, table, 7).Archive(ctx, archive.Record{Body: big, ReceivedAt: t0, SignatureValid: true}); err != nil {
				t.Fatal(err)
			}
			q := archive.Query{Since: t0, Until: t0.Add(time.Minute)}
			if got, err := archive.NewReader(db, table).Read(ctx, q); err != nil || len(got) != 1 || !bytes.Equal(got[0].Body, big) {
				t.Fatalf("intact body: %d entries, %v", len(got), err)
			}
			out, err := db.Query(ctx, &dynamodb.QueryInput{
				TableName: aws.String(table), KeyConditionExpression: aws.String("pk = :pk"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: archive.HourKey(t0)}},
			})
			if err != nil || len(out.Items) != 3 {
				t.Fatalf("%d items, %v; want 3 parts", len(out.Items), err)
			}
			put, del := tc.damage(out.Items)
			for _, it := range put {
				if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
					t.Fatal(err)
				}
			}
			for _, it := range del {
				if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{"pk": it["pk"], "sk": it["sk"]}}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := archive.NewReader(db, table).Read(ctx, q); !errors.Is(err, archive.ErrCorrupt) {
				t.Errorf("read: %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestParseDays(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"": 7, "0": 0, " 30 ": 30} {
		if got, err := archive.ParseDays(in); err != nil || got != want {
			t.Errorf("ParseDays(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"-1", "seven", "4000"} {
		if _, err := archive.ParseDays(in); err == nil {
			t.Errorf("ParseDays(%q) accepted", in)
		}
	}
}
