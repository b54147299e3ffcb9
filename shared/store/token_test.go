package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iginbox/iginbox/local/testenv"
)

// Through connect, refresh, flag and re-connect, the token is only ever in an item whose
// partition key starts with TokenKeyPrefix (the key IAM denies the api function) and that
// carries no index key (so no index holds it), while the reads that need it still get it.
func TestTokensLiveOnlyInTokenItems(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.DynamoDB(t)
	table := testenv.Table(t, db)
	s := New(db, table)
	const tok1, tok2, tok3 = "IGSIML_tok-one-\u00e9", "IGSIML_tok-two", "IGSIML_tok-three"

	if _, err := s.ConnectChannel(ctx, testChannel("7001", tok1, chanT0.Add(10*24*time.Hour)), chanT0.Add(-48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConnectChannel(ctx, testChannel("7002", "IGSIML_other", chanT0.Add(10*24*time.Hour)), chanT0.Add(-48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	due, _, err := s.DueChannels(ctx, chanT0, 30*24*time.Hour, 24*time.Hour)
	if err != nil || len(due) != 2 {
		t.Fatalf("due = %d, %v", len(due), err)
	}
	for _, ch := range due {
		if want := map[string]string{"7001": tok1, "7002": "IGSIML_other"}[ch.ID]; ch.AccessToken != want {
			t.Errorf("due channel %s without its token", ch.ID)
		}
	}
	if err := s.UpdateToken(ctx, "7001", tok1, tok2, chanT0.Add(60*24*time.Hour), chanT0); err != nil {
		t.Fatal(err)
	}
	st, err := s.LoadEventState(ctx, "7001", "555", "")
	if err != nil || st.Channel.AccessToken != tok2 {
		t.Fatalf("event state without the refreshed token: %v", err)
	}
	if err := s.FlagReauthIfToken(ctx, "7001", tok2, "190", chanT0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConnectChannel(ctx, testChannel("7001", tok3, chanT0.Add(60*24*time.Hour)), chanT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ss, err := s.LoadSendState(ctx, "7001", "555", "c0ffee", "MSG#x")
	if err != nil || ss.Channel.AccessToken != tok3 || !ss.ChannelFound {
		t.Fatalf("send state without the token: %v", err)
	}
	ch, err := s.GetChannel(ctx, "7001")
	if err != nil || ch.AccessToken != "" {
		t.Fatalf("GetChannel: %v, token returned: %v", err, ch.AccessToken != "")
	}

	out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	tokens := 0
	for _, it := range out.Items {
		pk := stringAttr(it, "pk")
		holdsToken := false
		for name, v := range it {
			if sv, ok := v.(*types.AttributeValueMemberS); ok && strings.HasPrefix(sv.Value, "IGSIML_") {
				holdsToken = true
				if name != "access_token" {
					t.Errorf("%s holds a token in %s", pk, name)
				}
			}
		}
		if !holdsToken {
			continue
		}
		tokens++
		if !strings.HasPrefix(pk, TokenKeyPrefix) {
			t.Errorf("item %s/%s holds a token outside %s items", pk, stringAttr(it, "sk"), TokenKeyPrefix)
		}
		for name := range it {
			if strings.HasPrefix(name, "gsi") {
				t.Errorf("token item %s has index key %s", pk, name)
			}
		}
	}
	if tokens != 2 {
		t.Errorf("%d items hold a token, want one per channel", tokens)
	}
}
