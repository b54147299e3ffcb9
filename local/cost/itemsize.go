package cost

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
)

// DynamoDB Local reports the table part of a TransactWriteItems as if the transaction held a
// single item (2 units whatever the number of items; its index figures are per item). The
// proxy therefore computes the table units of a transaction itself, with DynamoDB's rule: each
// item written costs 2 write units per started KB of its size (the item after the write; for
// a Delete and a ConditionCheck, the item as stored).

// attrSize is the size DynamoDB bills for an attribute value in its JSON wire form.
func attrSize(v map[string]json.RawMessage) int {
	for t, raw := range v {
		switch t {
		case "S", "B":
			var s string
			_ = json.Unmarshal(raw, &s)
			if t == "B" {
				return len(s) * 3 / 4
			}
			return len(s)
		case "N":
			var s string
			_ = json.Unmarshal(raw, &s)
			digits := len(strings.Trim(strings.TrimLeft(s, "-0"), "."))
			return (digits+1)/2 + 1
		case "BOOL", "NULL":
			return 1
		case "SS", "NS", "BS":
			var l []string
			_ = json.Unmarshal(raw, &l)
			n := 0
			for _, s := range l {
				n += len(s)
			}
			return n
		case "L":
			var l []map[string]json.RawMessage
			_ = json.Unmarshal(raw, &l)
			n := 3
			for _, e := range l {
				n += 1 + attrSize(e)
			}
			return n
		case "M":
			var m map[string]map[string]json.RawMessage
			_ = json.Unmarshal(raw, &m)
			n := 3
			for k, e := range m {
				n += 1 + len(k) + attrSize(e)
			}
			return n
		}
	}
	return 0
}

// itemSize is an item's billed size in bytes.
func itemSize(item map[string]map[string]json.RawMessage) int {
	n := 0
	for k, v := range item {
		n += len(k) + attrSize(v)
	}
	return n
}

// txWriteUnits is what one item of a transaction costs on the table.
func txWriteUnits(size int) float64 { return 2 * math.Max(1, math.Ceil(float64(size)/1024)) }

type txItem struct {
	Put *struct {
		TableName string
		Item      map[string]map[string]json.RawMessage
	}
	Update, Delete, ConditionCheck *struct {
		TableName string
		Key       map[string]map[string]json.RawMessage
	}
}

// getItemSize reads an item straight from the emulator (not counted) and returns its size
// (0 when absent).
func getItemSize(ctx context.Context, endpoint, table string, key map[string]map[string]json.RawMessage) int {
	body, _ := json.Marshal(map[string]any{"TableName": table, "Key": key, "ConsistentRead": true})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var out struct {
		Item map[string]map[string]json.RawMessage
	}
	if json.NewDecoder(resp.Body).Decode(&out) != nil {
		return 0
	}
	return itemSize(out.Item)
}

// transaction sizes the items of a TransactWriteItems request: before runs before it is
// forwarded (items deleted or only checked), after once it succeeded (updated items).
type transaction struct {
	endpoint string
	items    []txItem
	units    float64
}

func newTransaction(endpoint string, body []byte) *transaction {
	var req struct{ TransactItems []txItem }
	if json.Unmarshal(body, &req) != nil {
		return nil
	}
	return &transaction{endpoint: endpoint, items: req.TransactItems}
}

func (t *transaction) before(ctx context.Context) {
	for _, it := range t.items {
		switch {
		case it.Put != nil:
			t.units += txWriteUnits(itemSize(it.Put.Item))
		case it.Delete != nil:
			t.units += txWriteUnits(getItemSize(ctx, t.endpoint, it.Delete.TableName, it.Delete.Key))
		case it.ConditionCheck != nil:
			t.units += txWriteUnits(getItemSize(ctx, t.endpoint, it.ConditionCheck.TableName, it.ConditionCheck.Key))
		}
	}
}

func (t *transaction) after(ctx context.Context) float64 {
	for _, it := range t.items {
		if it.Update != nil {
			t.units += txWriteUnits(getItemSize(ctx, t.endpoint, it.Update.TableName, it.Update.Key))
		}
	}
	return t.units
}
