// Package archive keeps a record of every webhook body the webhook function accepted (raw
// bytes, signature check result, receive time, account ids) in the single DynamoDB table, with a
// TTL, and reads it back by time range so that `replay --from-archive` can re-deliver what Meta
// sent (for example after a processor bug fix). Idempotency by mid makes re-delivery safe.
//
// Items (docs/data-model.md): pk ARCHIVE#<yyyy-mm-dd-hh> (UTC hour of receipt), sk
// <13-digit received ms>#<body id>[#<part>], where the body id is the hex of the first 16
// bytes of a digest of the body: the webhook's verified X-Hub-Signature-256 HMAC (so the
// body is not hashed a second time on the request path), or its SHA-256. A body larger than
// one item can hold (DynamoDB's 400 KB limit; webhook bodies may be 1 MiB) is split into
// parts, one item each, written concurrently and re-joined when read (checked against the
// part count and the total size each part carries).
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

// AccountIndexPrefix starts the gsi1 partition that lists an account's archived bodies, so
// that a purge or an erasure finds them without reading every hour bucket.
const AccountIndexPrefix = "ARCH#"

// AccountIndexKey is the gsi1 partition key of the account's archived bodies.
func AccountIndexKey(accountID string) string { return AccountIndexPrefix + accountID }

// hourLayout names an hour bucket.
const hourLayout = "2006-01-02-15"

// IDBytes is how many bytes of a body's digest name it in the sort key (128 bits: unique
// among the bodies of one millisecond by a wide margin, and, for the webhook's HMAC, not a
// usable signature of the body).
const IDBytes = 16

// Record is one accepted webhook body.
type Record struct {
	// Body is the raw request body exactly as signed by Meta (after API Gateway's base64).
	Body []byte
	// Digest names the body: a SHA-256 sized digest of Body, of which the first IDBytes go
	// into the sort key. The webhook passes the X-Hub-Signature-256 HMAC it has just
	// verified, so that the body is not hashed twice on the request path. Nil: the Writer
	// uses SHA-256(Body).
	Digest []byte
	// ReceivedAt is when the webhook function received it (stored to the millisecond).
	ReceivedAt time.Time
	// SignatureValid is the result of the X-Hub-Signature-256 check. The webhook archives
	// only bodies that passed it; replay refuses any item without it.
	SignatureValid bool
	// AccountIDs are the distinct entry[].id / recipient account ids of its events. The
	// body is listed in gsi1 under ARCH#<first account>; every other account gets a small
	// reference item listed under its own ARCH#<account>.
	AccountIDs []string
	// ContactIDs are the distinct contact IGSIDs of its events (for a contact's erasure).
	ContactIDs []string
}

// RefPrefix starts the partition key of the reference item that lists a body under a second
// (third, ...) account of the body.
const RefPrefix = "ARCHIVE#REF#"

// HourKey returns the partition key of the hour bucket holding t.
func HourKey(t time.Time) string { return KeyPrefix + t.UTC().Format(hourLayout) }

// msDigits is the width of the sort key's millisecond prefix.
const msDigits = 13

// appendMS appends t in milliseconds, zero-padded to msDigits so that string order is time
// order.
func appendMS(b []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	for p := int64(1e12); p > 1 && ms < p; p /= 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, ms, 10)
}

// msKey is t's sort key prefix (appendMS as a string).
func msKey(t time.Time) string { return string(appendMS(make([]byte, 0, msDigits), t)) }

// PutItemAPI is the part of *dynamodb.Client the Writer uses.
type PutItemAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// Writer archives records with PutItem (one per part; almost every body is one part).
type Writer struct {
	db    PutItemAPI
	table *string
	ttl   time.Duration
}

// NewWriter returns a Writer keeping records for days days in table.
func NewWriter(db PutItemAPI, table string, days int) *Writer {
	return &Writer{db: db, table: aws.String(table), ttl: time.Duration(days) * 24 * time.Hour}
}

// ErrTooLarge is returned for a body over MaxParts parts (never a valid webhook body).
var ErrTooLarge = errors.New("body too large to archive")

// Archive stores r. It is safe for concurrent use.
func (w *Writer) Archive(ctx context.Context, r Record) error {
	return w.Prepare(r)(ctx)
}

// Prepare builds r's items now and returns the function that writes them. The webhook builds
// on the request's goroutine and writes concurrently with the queue publish.
func (w *Writer) Prepare(r Record) func(context.Context) error {
	parts := max(1, (len(r.Body)+PartBytes-1)/PartBytes)
	if parts > MaxParts {
		err := fmt.Errorf("%w: %d bytes", ErrTooLarge, len(r.Body))
		return func(context.Context) error { return err }
	}
	if parts == 1 && len(r.AccountIDs) <= 1 {
		one := w.single(r)
		return func(ctx context.Context) error { return w.put(ctx, &one.in) }
	}
	var items []map[string]types.AttributeValue
	if parts == 1 {
		items = []map[string]types.AttributeValue{w.single(r).in.Item}
	} else {
		items = w.parts(r, parts)
	}
	items = append(items, refs(r, items)...)
	return func(ctx context.Context) error {
		errs := make([]error, len(items))
		var wg sync.WaitGroup
		for i, it := range items {
			wg.Go(func() { errs[i] = w.put(ctx, &dynamodb.PutItemInput{TableName: w.table, Item: it}) })
		}
		wg.Wait()
		return errors.Join(errs...)
	}
}

func (w *Writer) put(ctx context.Context, in *dynamodb.PutItemInput) error {
	if _, err := w.db.PutItem(ctx, in); err != nil {
		if sk, ok := in.Item["sk"].(*types.AttributeValueMemberS); ok {
			return fmt.Errorf("archive %s: %w", sk.Value, err)
		}
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// Shared, never modified attribute values of signature_valid.
var (
	attrTrue  = &types.AttributeValueMemberBOOL{Value: true}
	attrFalse = &types.AttributeValueMemberBOOL{Value: false}
)

// keys returns r's partition key, sort key and ttl (epoch seconds). Prepare runs on every
// webhook request, whose whole budget is about one HMAC + JSON decode of the body
// (docs/performance.md): the body is not hashed when r carries its digest, and the three
// strings are cut from one allocation.
func (w *Writer) keys(r Record) (pk, sk, ttl string) {
	digest := r.Digest
	if len(digest) < IDBytes {
		sum := sha256.Sum256(r.Body)
		digest = sum[:]
	}
	at := r.ReceivedAt.UTC()
	var buf [len(KeyPrefix) + len(hourLayout) + msDigits + 1 + 2*IDBytes + 20]byte
	b := at.AppendFormat(append(buf[:0], KeyPrefix...), hourLayout)
	nPK := len(b)
	b = appendMS(b, at)
	b = append(b, '#')
	b = hex.AppendEncode(b, digest[:IDBytes])
	nSK := len(b)
	b = strconv.AppendInt(b, at.Add(w.ttl).Unix(), 10)
	s := string(b)
	return s[:nPK], s[nPK:nSK], s[nSK:]
}

// values holds the attribute values of one item (one allocation rather than five).
type values struct {
	pk, sk   types.AttributeValueMemberS
	body     types.AttributeValueMemberB
	ttl      types.AttributeValueMemberN
	accounts types.AttributeValueMemberSS
	contacts types.AttributeValueMemberSS
	gsi1pk   types.AttributeValueMemberS
}

// one is the write of a one-item body: its values and input in one allocation.
type one struct {
	values
	in dynamodb.PutItemInput
}

// attributes returns the attributes every item of r has (parts add theirs), held in o.
func attributes(o *values, r Record, pk, sk, ttl string, chunk []byte) map[string]types.AttributeValue {
	o.pk.Value, o.sk.Value, o.body.Value, o.ttl.Value = pk, sk, chunk, ttl
	sig := attrFalse
	if r.SignatureValid {
		sig = attrTrue
	}
	item := make(map[string]types.AttributeValue, 11)
	item["pk"] = &o.pk
	item["sk"] = &o.sk
	item["body"] = &o.body
	item["signature_valid"] = sig
	item["ttl"] = &o.ttl
	if len(r.AccountIDs) > 0 {
		o.accounts.Value = r.AccountIDs
		item["accounts"] = &o.accounts
		o.gsi1pk.Value = AccountIndexKey(r.AccountIDs[0])
		item["gsi1pk"] = &o.gsi1pk
		item["gsi1sk"] = &o.sk
	}
	if len(r.ContactIDs) > 0 {
		o.contacts.Value = r.ContactIDs
		item["contacts"] = &o.contacts
	}
	return item
}

// refs returns, for every account of r after the first, one reference item per body item:
// listed in gsi1 under that account, pointing at the body item (ref_pk, ref_sk), with the
// body's contacts and ttl, so that a purge or erasure of that account finds the body too.
func refs(r Record, items []map[string]types.AttributeValue) []map[string]types.AttributeValue {
	if len(r.AccountIDs) < 2 {
		return nil
	}
	var out []map[string]types.AttributeValue
	for _, acct := range r.AccountIDs[1:] {
		for _, it := range items {
			pk := it["pk"].(*types.AttributeValueMemberS).Value
			sk := it["sk"].(*types.AttributeValueMemberS).Value
			ref := map[string]types.AttributeValue{
				"pk":     &types.AttributeValueMemberS{Value: RefPrefix + acct},
				"sk":     &types.AttributeValueMemberS{Value: pk + "#" + sk},
				"gsi1pk": &types.AttributeValueMemberS{Value: AccountIndexKey(acct)},
				"gsi1sk": &types.AttributeValueMemberS{Value: sk},
				"ref_pk": &types.AttributeValueMemberS{Value: pk},
				"ref_sk": &types.AttributeValueMemberS{Value: sk},
				"ttl":    it["ttl"],
			}
			if c, ok := it["contacts"]; ok {
				ref["contacts"] = c
			}
			out = append(out, ref)
		}
	}
	return out
}

// single builds the write of a body that fits one item (almost every body).
func (w *Writer) single(r Record) *one {
	pk, sk, ttl := w.keys(r)
	o := &one{}
	o.in = dynamodb.PutItemInput{TableName: w.table, Item: attributes(&o.values, r, pk, sk, ttl, r.Body)}
	return o
}

// parts builds the items of a body split into n parts: <sk>#1 … #n, each with its part
// number, the part count and the body's size, so that the reader can tell a complete body.
func (w *Writer) parts(r Record, n int) []map[string]types.AttributeValue {
	pk, sk, ttl := w.keys(r)
	total := &types.AttributeValueMemberN{Value: strconv.Itoa(n)}
	size := &types.AttributeValueMemberN{Value: strconv.Itoa(len(r.Body))}
	items := make([]map[string]types.AttributeValue, 0, n)
	for p := range n {
		chunk := r.Body[p*PartBytes : min(len(r.Body), (p+1)*PartBytes)]
		item := attributes(&values{}, r, pk, sk+"#"+strconv.Itoa(p+1), ttl, chunk)
		item["part"] = &types.AttributeValueMemberN{Value: strconv.Itoa(p + 1)}
		item["parts"] = total
		item["size"] = size
		items = append(items, item)
	}
	return items
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
