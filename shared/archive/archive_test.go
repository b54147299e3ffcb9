package archive_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iginbox/iginbox/shared/archive"
	"github.com/iginbox/iginbox/shared/testenv"
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
	recs := []archive.Record{
		{Body: []byte(`{"n":1}`), ReceivedAt: t0, SignatureValid: true, AccountIDs: []string{"1"}},
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
				if !e.SignatureValid || e.ReceivedAt.IsZero() || len(e.SHA256) != 64 {
					t.Errorf("entry %s: %+v", e.Key, e)
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

	// A lost part is reported, never replayed as a truncated body (the big body is in the
	// 10:00 bucket: t0 is 09:59:59).
	out, err := db.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(table), KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: archive.HourKey(t0.Add(2 * time.Second))}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range out.Items {
		if sk := it["sk"].(*types.AttributeValueMemberS).Value; strings.HasSuffix(sk, "#2") {
			if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{"pk": it["pk"], "sk": it["sk"]}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := archive.NewReader(db, table).Read(ctx, archive.Query{Since: t0, Until: t0.Add(time.Hour)}); !errors.Is(err, archive.ErrCorrupt) {
		t.Errorf("read with a part missing: %v, want ErrCorrupt", err)
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
