// Package store is the DynamoDB adapter: every item iginbox keeps lives in one table whose
// layout is described in docs/data-model.md. It speaks the vocabulary of package domain;
// domain packages declare the small interfaces they need over it, and *Store implements them
// (checked in ports_test.go).
package store

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Index names of the table's global secondary indexes (see template.yaml).
const (
	IndexGSI1 = "gsi1"
	IndexGSI2 = "gsi2"
)

// Store reads and writes iginbox's single DynamoDB table.
type Store struct {
	db    *dynamodb.Client
	table string
	// messageTTL: messages and their per-mid records expire this long after their Meta
	// timestamp (0: kept forever). unknownTTL: unknown events expire this long after they
	// are kept (0: kept forever).
	messageTTL, unknownTTL time.Duration
}

// DefaultUnknownEventRetentionDays is UNKNOWN_EVENT_RETENTION_DAYS when unset.
const DefaultUnknownEventRetentionDays = 30

// Option customises a Store.
type Option func(*Store)

// WithRetention sets how many days messages (MESSAGE_RETENTION_DAYS) and unknown events
// (UNKNOWN_EVENT_RETENTION_DAYS) are kept; 0 keeps them forever.
func WithRetention(messageDays, unknownEventDays int) Option {
	return func(s *Store) {
		s.messageTTL = time.Duration(messageDays) * 24 * time.Hour
		s.unknownTTL = time.Duration(unknownEventDays) * 24 * time.Hour
	}
}

// New returns a Store over the given client and table. The client is created once per cold
// start by the function's main and shared by every adapter.
func New(db *dynamodb.Client, table string, opts ...Option) *Store {
	s := &Store{db: db, table: table}
	for _, o := range opts {
		o(s)
	}
	return s
}

// midTTLMargin keeps a per-mid record a little longer than its message, so that a message
// expired by retention is not stored again by a late redelivery.
const midTTLMargin = 2 * 24 * time.Hour

// messageExpiry is the ttl (epoch seconds) of a message with Meta timestamp tsMS; 0 = none.
func messageExpiry(ttl time.Duration, tsMS int64) int64 {
	if ttl <= 0 || tsMS <= 0 {
		return 0
	}
	return time.UnixMilli(tsMS).Add(ttl).Unix()
}

// Table returns the table name.
func (s *Store) Table() string { return s.table }
