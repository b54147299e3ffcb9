// Package store is the DynamoDB adapter: every item iginbox keeps lives in one table whose
// layout is described in docs/data-model.md. Domain packages declare the small interfaces
// they need; *Store implements them.
package store

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Index names of the table's global secondary indexes (see template.yaml).
const (
	IndexGSI1 = "gsi1"
	IndexGSI2 = "gsi2"
)

// Sentinel errors callers branch on (with errors.Is, at the edge).
var (
	// ErrNotFound: the item does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a conditional write lost against a concurrent or earlier write.
	ErrConflict = errors.New("conflict")
)

// Store reads and writes iginbox's single DynamoDB table.
type Store struct {
	db    *dynamodb.Client
	table string
}

// New returns a Store over the given client and table. The client is created once per cold
// start by the function's main and shared by every adapter.
func New(db *dynamodb.Client, table string) *Store {
	return &Store{db: db, table: table}
}

// Table returns the table name.
func (s *Store) Table() string { return s.table }
