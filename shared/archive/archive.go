// Package archive keeps a record of every webhook body the webhook function accepted (raw
// bytes, signature check result, receive time, account ids) in the single DynamoDB table, with a
// TTL, and reads it back by time range so that `replay --from-archive` can re-deliver what Meta
// sent (for example after a processor bug fix). Idempotency by mid makes re-delivery safe.
//
// Items (docs/data-model.md): pk ARCHIVE#<yyyy-mm-dd-hh> (UTC hour of receipt), sk
// <13-digit received ms>#<hex SHA-256 of the body>[#<part>]. A body larger than one item can
// hold (DynamoDB's 400 KB limit; webhook bodies may be 1 MiB) is split into parts, one item
// each, written concurrently and re-joined (and checked against the SHA-256) when read.
package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// PartBytes is the largest slice of a body stored in one item (DynamoDB items are at most
// 400 KB including attribute names and the other attributes).
const PartBytes = 380 * 1024

// MaxParts bounds the parts of one body (webhook bodies are at most 1 MiB).
const MaxParts = 4

// DefaultDays is the archive's retention when WEBHOOK_ARCHIVE_DAYS is unset.
const DefaultDays = 7

// KeyPrefix starts the partition key of every archive item.
const KeyPrefix = "ARCHIVE#"

// hourLayout names an hour bucket.
const hourLayout = "2006-01-02-15"

// Record is one accepted webhook body.
type Record struct {
	// Body is the raw request body exactly as signed by Meta (after API Gateway's base64).
	Body []byte
	// ReceivedAt is when the webhook function received it.
	ReceivedAt time.Time
	// SignatureValid is the result of the X-Hub-Signature-256 check. The webhook archives
	// only bodies that passed it; replay refuses any item without it.
	SignatureValid bool
	// AccountIDs are the distinct entry[].id / recipient account ids of its events.
	AccountIDs []string
}

// HourKey returns the partition key of the hour bucket holding t.
func HourKey(t time.Time) string { return KeyPrefix + t.UTC().Format(hourLayout) }

// SortKey returns the sort key of a body received at t with the given hex SHA-256.
func SortKey(t time.Time, sha string) string {
	return msKey(t) + "#" + sha
}

// msKey is t in milliseconds, zero-padded to 13 digits so that string order is time order.
func msKey(t time.Time) string {
	ms := strconv.FormatInt(t.UnixMilli(), 10)
	if len(ms) < 13 {
		ms = strings.Repeat("0", 13-len(ms)) + ms
	}
	return ms
}

// PutItemAPI is the part of *dynamodb.Client the Writer uses.
type PutItemAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// Writer archives records with PutItem (one per part; almost every body is one part).
type Writer struct {
	db    PutItemAPI
	table string
	ttl   time.Duration
}

// NewWriter returns a Writer keeping records for days days in table.
func NewWriter(db PutItemAPI, table string, days int) *Writer {
	return &Writer{db: db, table: table, ttl: time.Duration(days) * 24 * time.Hour}
}

// ErrTooLarge is returned for a body over MaxParts parts (never a valid webhook body).
var ErrTooLarge = errors.New("body too large to archive")

// Archive stores r. It is safe for concurrent use.
func (w *Writer) Archive(ctx context.Context, r Record) error {
	return w.Prepare(r)(ctx)
}

// Prepare builds r's items now and returns the function that writes them. The webhook builds
// on its own goroutine and writes on another, concurrently with the queue publish.
func (w *Writer) Prepare(r Record) func(context.Context) error {
	items, err := w.items(r)
	if err != nil {
		return func(context.Context) error { return err }
	}
	return func(ctx context.Context) error { return w.write(ctx, items) }
}

func (w *Writer) write(ctx context.Context, items []map[string]types.AttributeValue) error {
	if len(items) == 1 {
		return w.put(ctx, items[0])
	}
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.put(ctx, it)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (w *Writer) put(ctx context.Context, item map[string]types.AttributeValue) error {
	_, err := w.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(w.table), Item: item})
	if err != nil {
		if sk, ok := item["sk"].(*types.AttributeValueMemberS); ok {
			return fmt.Errorf("archive %s: %w", sk.Value, err)
		}
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// items builds the DynamoDB items of r. The attribute maps are built by hand rather than
// with attributevalue.MarshalMap: this runs on every webhook request, and reflection would
// cost more than the webhook's whole benchmark budget for a one-event body.
func (w *Writer) items(r Record) ([]map[string]types.AttributeValue, error) {
	parts := (len(r.Body) + PartBytes - 1) / PartBytes
	if parts == 0 {
		parts = 1
	}
	if parts > MaxParts {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(r.Body))
	}
	sum := sha256.Sum256(r.Body)
	sha := hex.EncodeToString(sum[:])
	at := r.ReceivedAt.UTC()
	pk := &types.AttributeValueMemberS{Value: HourKey(at)}
	sk := SortKey(at, sha)
	received := &types.AttributeValueMemberS{Value: at.Format(time.RFC3339Nano)}
	ttl := &types.AttributeValueMemberN{Value: strconv.FormatInt(at.Add(w.ttl).Unix(), 10)}
	sig := &types.AttributeValueMemberBOOL{Value: r.SignatureValid}
	var accounts types.AttributeValue
	if len(r.AccountIDs) > 0 {
		accounts = &types.AttributeValueMemberSS{Value: r.AccountIDs}
	}
	items := make([]map[string]types.AttributeValue, 0, parts)
	for p := range parts {
		chunk := r.Body[p*PartBytes : min(len(r.Body), (p+1)*PartBytes)]
		item := map[string]types.AttributeValue{
			"pk":              pk,
			"sk":              &types.AttributeValueMemberS{Value: sk},
			"body":            &types.AttributeValueMemberB{Value: chunk},
			"received_at":     received,
			"signature_valid": sig,
			"ttl":             ttl,
		}
		if parts > 1 {
			item["sk"] = &types.AttributeValueMemberS{Value: sk + "#" + strconv.Itoa(p+1)}
			item["part"] = &types.AttributeValueMemberN{Value: strconv.Itoa(p + 1)}
			item["parts"] = &types.AttributeValueMemberN{Value: strconv.Itoa(parts)}
		}
		if accounts != nil {
			item["accounts"] = accounts
		}
		items = append(items, item)
	}
	return items, nil
}

// ParseDays reads WEBHOOK_ARCHIVE_DAYS: empty means DefaultDays, 0 turns the archive off.
func ParseDays(v string) (int, error) {
	if strings.TrimSpace(v) == "" {
		return DefaultDays, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 || n > 3650 {
		return 0, fmt.Errorf("WEBHOOK_ARCHIVE_DAYS %q must be a number of days from 0 (off) to 3650", v)
	}
	return n, nil
}
