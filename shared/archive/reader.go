package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// MaxHours bounds the hour buckets one read may query (400 days).
const MaxHours = 400 * 24

// QueryAPI is the part of *dynamodb.Client the Reader uses.
type QueryAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Reader reads archived bodies back.
type Reader struct {
	db    QueryAPI
	table string
}

// NewReader returns a Reader of table.
func NewReader(db QueryAPI, table string) *Reader { return &Reader{db: db, table: table} }

// Query selects archived bodies: received in [Since, Until], and, when AccountID is set,
// carrying an event of that account.
type Query struct {
	Since, Until time.Time
	AccountID    string
}

// Entry is one archived body, re-joined from its parts.
type Entry struct {
	Body []byte
	// ID names the body (hex; see Record.Digest).
	ID string
	// ReceivedAt is the receive time, to the millisecond (the sort key's prefix).
	ReceivedAt     time.Time
	SignatureValid bool
	AccountIDs     []string
	// Key is the item's sort key without the part suffix (<received ms>#<id>).
	Key string
}

type item struct {
	PK             string   `dynamodbav:"pk"`
	SK             string   `dynamodbav:"sk"`
	Body           []byte   `dynamodbav:"body"`
	SignatureValid bool     `dynamodbav:"signature_valid"`
	Accounts       []string `dynamodbav:"accounts,stringset,omitempty"`
	Part           int      `dynamodbav:"part"`
	Parts          int      `dynamodbav:"parts"`
	Size           int      `dynamodbav:"size"`
}

// ErrCorrupt is wrapped when an archived body is incomplete: a part missing or out of place,
// or parts that do not add up to the body's size.
var ErrCorrupt = errors.New("corrupt archive item")

// Read returns the matching bodies oldest first. It queries one partition per UTC hour
// between q.Since and q.Until (never a Scan), each with a sort key range on the received time.
func (r *Reader) Read(ctx context.Context, q Query) ([]Entry, error) {
	if q.Until.Before(q.Since) {
		return nil, fmt.Errorf("read archive: until %s is before since %s", q.Until.Format(time.RFC3339), q.Since.Format(time.RFC3339))
	}
	first := q.Since.UTC().Truncate(time.Hour)
	if hours := int(q.Until.Sub(first)/time.Hour) + 1; hours > MaxHours {
		return nil, fmt.Errorf("read archive: %d hours is over the limit of %d", hours, MaxHours)
	}
	lo := msKey(q.Since)
	hi := msKey(q.Until) + "#\uffff"
	var out []Entry
	for h := first; !h.After(q.Until); h = h.Add(time.Hour) {
		items, err := r.hour(ctx, HourKey(h), lo, hi, q.AccountID)
		if err != nil {
			return nil, err
		}
		entries, err := join(items)
		if err != nil {
			return nil, err
		}
		out = append(out, entries...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (r *Reader) hour(ctx context.Context, pk, lo, hi, account string) ([]item, error) {
	b := expression.NewBuilder().WithKeyCondition(
		expression.Key("pk").Equal(expression.Value(pk)).And(expression.Key("sk").Between(expression.Value(lo), expression.Value(hi))))
	if account != "" {
		b = b.WithFilter(expression.Contains(expression.Name("accounts"), account))
	}
	expr, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("read archive %s: %w", pk, err)
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(r.table),
		KeyConditionExpression:    expr.KeyCondition(),
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	}
	var items []item
	p := dynamodb.NewQueryPaginator(r.db, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read archive %s: %w", pk, err)
		}
		var got []item
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &got); err != nil {
			return nil, fmt.Errorf("read archive %s: %w", pk, err)
		}
		items = append(items, got...)
	}
	return items, nil
}

// join re-assembles multi-part bodies (adjacent in sort key order), checking that every part
// is there, in order, and that they add up to the size the parts carry. (Each item is written
// whole, so a single-item body cannot be torn; a second body under the same key would be the
// same bytes: the id is a digest of them.)
func join(items []item) ([]Entry, error) {
	var out []Entry
	for i := 0; i < len(items); {
		it := items[i]
		key := it.SK
		n := 1
		if it.Parts > 1 {
			key = key[:strings.LastIndexByte(key, '#')]
			n = it.Parts
			if i+n > len(items) {
				return nil, fmt.Errorf("%w: %s %s has %d of %d parts", ErrCorrupt, it.PK, key, len(items)-i, n)
			}
		}
		msPart, id, ok := strings.Cut(key, "#")
		ms, err := strconv.ParseInt(msPart, 10, 64)
		if !ok || err != nil || len(msPart) != msDigits || id == "" {
			return nil, fmt.Errorf("%w: %s %s: not <ms>#<id>", ErrCorrupt, it.PK, it.SK)
		}
		var body bytes.Buffer
		for p := range n {
			part := items[i+p]
			if n > 1 && (part.Part != p+1 || part.Parts != n || part.SK != key+"#"+strconv.Itoa(p+1)) {
				return nil, fmt.Errorf("%w: %s %s: part %d missing", ErrCorrupt, it.PK, key, p+1)
			}
			body.Write(part.Body)
		}
		if n > 1 && it.Size > 0 && body.Len() != it.Size {
			return nil, fmt.Errorf("%w: %s %s: parts hold %d bytes of %d", ErrCorrupt, it.PK, key, body.Len(), it.Size)
		}
		out = append(out, Entry{
			Body: body.Bytes(), ID: id, ReceivedAt: time.UnixMilli(ms).UTC(), SignatureValid: it.SignatureValid,
			AccountIDs: it.Accounts, Key: key,
		})
		i += n
	}
	return out, nil
}
