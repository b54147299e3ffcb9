package devstack

// End-to-end erasure through the local stack (its own stack: the purge removes the dev
// account): replay a conversation, deauthorize through the simulator (signed like Meta), the
// channel is disconnected with no token in its item and a webhook for it stores nothing; the
// account re-connects through Business Login; then Meta's data-deletion request: the status
// URL reaches "completed" and a full read of the table finds no item of the account, archive
// included. Last, a purge of 20,000 messages, reported with its duration and DynamoDB calls.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iginbox/iginbox/local/emulator"
	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/inbox"
	"github.com/iginbox/iginbox/shared/store"
)

func TestErasureEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole local stack")
	}
	t.Parallel() // its own stack, emulators and ports: it overlaps TestEndToEnd's waits
	s := startStack(t)
	db, table := s.dynamo(t)
	ctx := context.Background()

	// A conversation of the dev account.
	s.replay(t, metaDir)
	s.waitIdle(t)
	if n := len(testenv.ItemsMentioning(t, db, table, e2eAccount)); n < 10 {
		t.Fatalf("after the replay only %d items name the dev account", n)
	}

	// 1. Deauthorize (Meta's signed callback, sent by the simulator).
	status, raw := s.post(t, s.simURL+"/_sim/deauthorize", map[string]string{"account_id": e2eAccount})
	if status != http.StatusOK {
		t.Fatalf("deauthorize: %d %s", status, raw)
	}
	if ch := s.channels(t)[e2eAccount]; ch.Status != "disconnected" {
		t.Fatalf("channel after deauthorize: %+v", ch)
	}
	item := s.getItem(t, db, table, "CH#"+e2eAccount, "CHANNEL")
	for _, attr := range []string{"access_token", "gsi2pk", "gsi2sk"} {
		if _, ok := item[attr]; ok {
			t.Errorf("the disconnected channel item still has %s", attr)
		}
	}
	if st, ok := item["status"].(*ddbtypes.AttributeValueMemberS); !ok || st.Value != "disconnected" {
		t.Errorf("channel item status %v", item["status"])
	}
	text := fmt.Sprintf("after deauthorize %d", time.Now().UnixNano())
	s.webhook(t, messageItem("5550009990001", time.Now(), "deauth", text))
	s.waitFor(t, 30*time.Second, "the event to be ignored", func() (bool, string) {
		n := s.logs.count(func(l string) bool { return strings.Contains(l, "event for a disconnected channel ignored") })
		return n > 0, "no ignore line yet"
	})
	for _, it := range testenv.ItemsMentioning(t, db, table, text) {
		if !strings.HasPrefix(it, "ARCHIVE#") {
			t.Errorf("the webhook for a disconnected channel stored %s", it)
		}
	}
	if n := len(testenv.ItemsMentioning(t, db, table, "5550009990001")); n > 1 {
		t.Errorf("the webhook for a disconnected channel stored %d items of its contact", n)
	}

	// 2. Re-connecting through Business Login brings the channel back.
	reconnect := func() {
		t.Helper()
		status, raw := s.do(t, http.MethodPost, "/api/channels/connect", nil)
		var conn struct {
			URL string `json:"url"`
		}
		if status != http.StatusOK || json.Unmarshal(raw, &conn) != nil {
			t.Fatalf("connect: %d %s", status, raw)
		}
		resp, err := s.client.Get(conn.URL)
		if err != nil {
			t.Fatalf("follow the authorize URL: %v", err)
		}
		resp.Body.Close()
		if !strings.Contains(resp.Request.URL.RawQuery, "connected="+e2eAccount) {
			t.Fatalf("connect flow landed on %s", resp.Request.URL)
		}
		if ch := s.channels(t)[e2eAccount]; ch.Status != "connected" || ch.UnsubscribedAt != nil || ch.UnsubscribeError != "" {
			t.Fatalf("channel after re-connecting: %+v", ch)
		}
	}
	reconnect()

	// 2b. Disconnecting through the API: the processor unsubscribes the webhooks on Meta with
	// the token the api function may not read, deletes the token and records the outcome.
	status, raw = s.do(t, http.MethodDelete, "/api/channels/"+e2eAccount, nil)
	if status != http.StatusOK || !strings.Contains(string(raw), `"unsubscribe":"pending"`) {
		t.Fatalf("DELETE /api/channels/%s: %d %s", e2eAccount, status, raw)
	}
	s.waitFor(t, 30*time.Second, "the unsubscription", func() (bool, string) {
		ch := s.channels(t)[e2eAccount]
		return ch.UnsubscribedAt != nil || ch.UnsubscribeError != "", fmt.Sprintf("%+v", ch)
	})
	if ch := s.channels(t)[e2eAccount]; ch.UnsubscribedAt == nil || ch.UnsubscribeError != "" || ch.Status != "disconnected" {
		t.Fatalf("channel after the unsubscription: %+v", ch)
	}
	if out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: store.TokenKeyPrefix + e2eAccount},
			"sk": &ddbtypes.AttributeValueMemberS{Value: "TOKEN"}}}); err != nil || out.Item != nil {
		t.Fatalf("token item after the unsubscription: %v (found %v)", err, out != nil && out.Item != nil)
	}
	reconnect()

	// 3. Meta's data-deletion request: status URL, purge, nothing left.
	status, raw = s.post(t, s.simURL+"/_sim/data-deletion", map[string]string{"account_id": e2eAccount})
	var del struct {
		URL  string `json:"url"`
		Code string `json:"confirmation_code"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &del) != nil || del.Code == "" || !strings.HasSuffix(del.URL, "/instagram/data-deletion/"+del.Code) {
		t.Fatalf("data deletion: %d %s", status, raw)
	}
	begin := time.Now()
	final := s.waitDeletion(t, del.URL, 3*time.Minute)
	t.Logf("data deletion of the dev account: completed in %s, deleted %v", time.Since(begin).Round(time.Millisecond), final.Deleted)
	if left := testenv.ItemsMentioning(t, db, table, e2eAccount); len(left) != 0 {
		t.Fatalf("after the purge %d items still name the dev account:\n%s", len(left), strings.Join(left, "\n"))
	}
	if left := testenv.ItemsMentioning(t, db, table, text); len(left) != 0 {
		t.Errorf("the ignored webhook body is still archived: %v", left)
	}

	// 4. 20,000 messages.
	s.purgeLarge(t, ctx, db, table, 20_000)
}

type deletionStatus struct {
	Status      string         `json:"status"`
	CompletedAt string         `json:"completed_at"`
	Deleted     map[string]int `json:"deleted"`
}

// waitDeletion polls the public status URL (no token) until the request is completed.
func (s *stack) waitDeletion(t *testing.T, statusURL string, limit time.Duration) deletionStatus {
	t.Helper()
	var st deletionStatus
	s.waitFor(t, limit, "the deletion to complete", func() (bool, string) {
		resp, err := s.client.Get(statusURL)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil {
			return false, fmt.Sprintf("status page answered %d", resp.StatusCode)
		}
		return st.Status == "completed" && st.CompletedAt != "", st.Status
	})
	return st
}

// dynamo returns a client of the stack's DynamoDB Local and its table (from the banner).
func (s *stack) dynamo(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	var endpoint, table string
	for _, l := range s.logs.all() {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "AWS_ENDPOINT_URL_DYNAMODB="):
			endpoint = strings.TrimPrefix(l, "AWS_ENDPOINT_URL_DYNAMODB=")
		case strings.HasPrefix(l, "table Table: "):
			table = strings.TrimPrefix(l, "table Table: ")
		}
	}
	if endpoint == "" || table == "" {
		t.Fatalf("banner lacks the DynamoDB endpoint or the table:\n%s", s.logs.tail(80))
	}
	return dynamodb.New(dynamodb.Options{Region: emulator.Region, BaseEndpoint: aws.String(endpoint),
		Credentials: emulator.Credentials()}), table
}

func (s *stack) getItem(t *testing.T, db *dynamodb.Client, table, pk, sk string) map[string]ddbtypes.AttributeValue {
	t.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: pk}, "sk": &ddbtypes.AttributeValueMemberS{Value: sk}}})
	if err != nil || out.Item == nil {
		t.Fatalf("get %s %s: %v (found %v)", pk, sk, err, out != nil && out.Item != nil)
	}
	return out.Item
}

// ddbCallsField reads the count from a step's log line (JSON in Lambda, logfmt as the local
// stack prints it).
var ddbCallsField = regexp.MustCompile(`(?:"ddb_calls":|\bddb_calls=)(\d+)`)

// purgeLarge seeds an account with n messages (and their per-mid records) straight into the
// table, purges it through DELETE /api/channels/{id}?purge=true, and reports the duration and
// the DynamoDB requests the purge steps made (each step logs its count).
func (s *stack) purgeLarge(t *testing.T, ctx context.Context, db *dynamodb.Client, table string, n int) {
	t.Helper()
	const acct, igsid = "17841400000000077", "5550007700001"
	st := store.New(db, table)
	now := time.Now()
	if _, err := st.ConnectChannel(ctx, domain.Channel{ID: acct, Username: "bulk", AccessToken: "not-a-simulator-token",
		TokenExpiresAt: now.Add(50 * 24 * time.Hour)}, now); err != nil {
		t.Fatal(err)
	}
	conv := inbox.ConversationID(acct, igsid, 1)
	tx := new(domain.Tx)
	tx.CreateConversation(domain.Conversation{ID: conv, ChannelID: acct, ContactIGSID: igsid, Status: domain.StatusOpen, Seq: 1,
		LastActivityMS: now.UnixMilli(), LastIncomingMS: now.UnixMilli(), CreatedAt: now})
	tx.PutContact(domain.Contact{ChannelID: acct, IGSID: igsid, Name: "Bulk \U0001F602", OpenConversationID: conv, LastConversationID: conv, ConversationSeq: 1})
	if err := st.Commit(ctx, tx); err != nil {
		t.Fatal(err)
	}
	seedStart := time.Now()
	var reqs []ddbtypes.WriteRequest
	for i := range n {
		mid := fmt.Sprintf("aWdfZAG1bulk%08d", i)
		ts := now.Add(-time.Duration(n-i) * time.Second).UnixMilli()
		m := domain.Message{ID: inbox.MessageID(acct, mid), ConversationID: conv, ChannelID: acct, ContactIGSID: igsid, MID: mid,
			Direction: domain.DirectionIncoming, Text: "bulk message " + strconv.Itoa(i) + " \u202e\U0001F602", Status: domain.MessageReceived,
			TimestampMS: ts, CreatedAt: now}
		mi, err := attributevalue.MarshalMap(m)
		if err != nil {
			t.Fatal(err)
		}
		mi["pk"], mi["sk"] = &ddbtypes.AttributeValueMemberS{Value: "CONV#" + conv}, &ddbtypes.AttributeValueMemberS{Value: domain.MessageSK(ts, mid)}
		mi["type"] = &ddbtypes.AttributeValueMemberS{Value: "message"}
		ri, err := attributevalue.MarshalMap(domain.MIDRecord{ChannelID: acct, MID: mid, ConversationID: conv, MessageSK: domain.MessageSK(ts, mid), Ver: 1})
		if err != nil {
			t.Fatal(err)
		}
		ri["pk"], ri["sk"] = &ddbtypes.AttributeValueMemberS{Value: "MID#" + acct + "#" + mid}, &ddbtypes.AttributeValueMemberS{Value: "MID"}
		reqs = append(reqs, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: mi}}, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: ri}})
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := 0; i < len(reqs); i += 25 {
		batch := reqs[i:min(len(reqs), i+25)]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			req := map[string][]ddbtypes.WriteRequest{table: batch}
			for len(req[table]) > 0 {
				out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: req})
				if err != nil {
					t.Error(err)
					return
				}
				req = out.UnprocessedItems
			}
		})
	}
	wg.Wait()
	t.Logf("seeded %d messages and %d per-mid records in %s", n, n, time.Since(seedStart).Round(time.Millisecond))

	begin := time.Now()
	status, raw := s.do(t, http.MethodDelete, "/api/channels/"+acct+"?purge=true", nil)
	var out struct {
		Purge struct {
			URL string `json:"url"`
		} `json:"purge"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &out) != nil || out.Purge.URL == "" {
		t.Fatalf("DELETE /api/channels/%s?purge=true: %d %s", acct, status, raw)
	}
	final := s.waitDeletion(t, out.Purge.URL, 10*time.Minute)
	took := time.Since(begin)
	steps, calls := 0, 0
	for _, l := range s.logs.all() {
		if strings.Contains(l, "erasure step") && strings.Contains(l, acct) {
			if m := ddbCallsField.FindStringSubmatch(l); m != nil {
				steps++
				c, _ := strconv.Atoi(m[1])
				calls += c
			}
		}
	}
	if steps == 0 {
		t.Errorf("no erasure step logged its DynamoDB requests")
	}
	t.Logf("purge of %d messages: %s (including the %s settle wait), %d steps, %d DynamoDB requests, deleted %v",
		n, took.Round(time.Millisecond), "2s", steps, calls, final.Deleted)
	if final.Deleted[domain.KindMessage] != n || final.Deleted[domain.KindMIDRecord] != n {
		t.Errorf("deleted %v, want %d messages and %d per-mid records", final.Deleted, n, n)
	}
	if left := testenv.ItemsMentioning(t, db, table, acct); len(left) != 0 {
		t.Errorf("after the purge %d items still name the account (first: %s)", len(left), left[0])
	}
}
