package cost

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestItemSizeFollowsDynamoDBRules(t *testing.T) {
	t.Parallel()
	var item map[string]map[string]json.RawMessage
	raw := `{"pk":{"S":"CONV#abc"},"n":{"N":"1234"},"ok":{"BOOL":true},"l":{"L":[{"S":"ab"}]},"m":{"M":{"k":{"S":"v"}}},"e":{"S":"😂"}}`
	if err := json.Unmarshal([]byte(raw), &item); err != nil {
		t.Fatal(err)
	}
	// pk 2+8, n 1+3 (4 digits: 2 bytes + 1), ok 2+1, l 1+(3+1+2), m 1+(3+1+1+1), e 1+4 (UTF-8 bytes).
	want := 10 + 4 + 3 + 7 + 7 + 5
	if got := itemSize(item); got != want {
		t.Fatalf("itemSize = %d, want %d", got, want)
	}
}

func TestTransactionUnitsPerItem(t *testing.T) {
	t.Parallel()
	small := `{"Put":{"TableName":"t","Item":{"pk":{"S":"a"}}}}`
	big := `{"Put":{"TableName":"t","Item":{"pk":{"S":"` + strings.Repeat("x", 1500) + `"}}}}`
	tx := newTransaction("http://unused", []byte(`{"TransactItems":[`+small+`,`+big+`]}`))
	if tx == nil {
		t.Fatal("request not parsed")
	}
	tx.before(t.Context())
	// 2 units for the small item, 4 for the one over 1 KB.
	if tx.units != 6 {
		t.Fatalf("units = %v, want 6", tx.units)
	}
}

func TestAskCapacityAndNewDedupIDs(t *testing.T) {
	t.Parallel()
	b := askCapacity([]byte(`{"TableName":"t","ReturnConsumedCapacity":"TOTAL"}`))
	if !strings.Contains(string(b), `"ReturnConsumedCapacity":"INDEXES"`) {
		t.Fatalf("askCapacity = %s", b)
	}
	b = newDedupIDs([]byte(`{"Entries":[{"Id":"0","MessageDeduplicationId":"abc"}]}`))
	if !strings.Contains(string(b), `"MessageDeduplicationId":"late-abc"`) {
		t.Fatalf("newDedupIDs = %s", b)
	}
}

func TestRecordSplitsTableAndIndexUnits(t *testing.T) {
	t.Parallel()
	r := NewRecorder()
	r.Phase("p", 1)
	r.record("dynamodb:TransactWriteItems", 200, []byte(`{"ConsumedCapacity":[{"TableName":"t","CapacityUnits":6,"Table":{"CapacityUnits":2},"GlobalSecondaryIndexes":{"gsi1":{"CapacityUnits":4}}}]}`), 8)
	r.record("dynamodb:GetItem", 200, []byte(`{"ConsumedCapacity":{"TableName":"t","CapacityUnits":1,"Table":{"CapacityUnits":1}}}`), -1)
	r.record("dynamodb:PutItem", 400, []byte(`{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"}`), -1)
	r.record("sqs:ReceiveMessage", 200, []byte(`{}`), -1)
	r.record("sqs:ReceiveMessage", 200, []byte(`{"Messages":[{},{}]}`), -1)
	u := r.Usage("p")
	tx := u.DynamoDB["TransactWriteItems"]
	if tx.WriteUnits != 8 || tx.IndexUnits != 4 {
		t.Fatalf("transaction = %+v, want 8 table units (computed) and 4 index units", tx)
	}
	if u.DynamoDB["GetItem"].ReadUnits != 1 {
		t.Fatalf("get = %+v", u.DynamoDB["GetItem"])
	}
	if p := u.DynamoDB["PutItem"]; p.Failed != 1 || p.WriteUnits != 1 {
		t.Fatalf("refused put = %+v, want one failed call billed one unit", p)
	}
	if u.EmptyReceives != 1 || u.SQS["ReceiveMessage"].Calls != 1 || u.SQS["ReceiveMessage"].Entries != 2 {
		t.Fatalf("receives = %d empty, %+v", u.EmptyReceives, u.SQS["ReceiveMessage"])
	}
	d := PerEvent(u)
	want := (8+4+1)*DynamoDBWriteUnit + 1*DynamoDBReadUnit
	if math.Abs(d.DynamoDB-want) > 1e-15 {
		t.Fatalf("DynamoDB $ = %g, want %g", d.DynamoDB, want)
	}
	if d.SQS != SQSFIFORequest {
		t.Fatalf("SQS $ = %g, want one request (empty receives are a fixed cost)", d.SQS)
	}
}

func TestGraphPathFoldsIDs(t *testing.T) {
	t.Parallel()
	if got := graphPath("/v23.0/17841400000000001/messages"); got != "/{version}/{id}/messages" {
		t.Fatal(got)
	}
}
