package store

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Access tokens live in items of their own, never in the channel item, so that IAM can keep
// them from the functions that do not call Meta (template.yaml denies the api function every
// item whose partition key starts with TokenKeyPrefix) and no index ever holds one: a token
// item has no index key attributes.

// TokenKeyPrefix starts the partition key of every item that holds an access token.
const TokenKeyPrefix = "TOKEN#"

const tokenSK = "TOKEN"

func tokenKey(accountID string) map[string]types.AttributeValue {
	return key(TokenKeyPrefix+accountID, tokenSK)
}

// tokenItem is a channel's access token as stored.
type tokenItem struct {
	ChannelID   string    `dynamodbav:"channel_id"`
	AccessToken string    `dynamodbav:"access_token"`
	UpdatedAt   time.Time `dynamodbav:"updated_at"`
}

// TokenItemAttributes are the attribute names a token item holds (for the template check
// that no index projects them).
func TokenItemAttributes() []string {
	item, err := marshalItem(tokenItem{ChannelID: "1", AccessToken: "x", UpdatedAt: time.Unix(1, 0)}, "pk", "sk")
	if err != nil {
		panic(err) // a fixed struct: cannot fail
	}
	names := make([]string, 0, len(item))
	for k := range item {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// putToken adds the write of accountID's token to t.
func (t *txn) putToken(accountID, token string, now time.Time) {
	item, err := marshalItem(tokenItem{ChannelID: accountID, AccessToken: token, UpdatedAt: now}, TokenKeyPrefix+accountID, tokenSK)
	if err != nil {
		t.fail(fmt.Errorf("marshal token: %w", err))
		return
	}
	t.items = append(t.items, types.TransactWriteItem{Put: &types.Put{TableName: &t.table, Item: item}})
}

// GetChannelToken returns the channel's access token; ErrNotFound when it has none. Only the
// functions that call Meta with it may read it (the api function's role may not).
func (s *Store) GetChannelToken(ctx context.Context, accountID string) (string, error) {
	var tok tokenItem
	if err := s.getItem(ctx, tokenKey(accountID), &tok); err != nil {
		return "", fmt.Errorf("token of %s: %w", accountID, err)
	}
	return tok.AccessToken, nil
}

// deleteToken deletes accountID's token item (no return values). A missing item is fine.
func (s *Store) deleteToken(ctx context.Context, op, accountID string) error {
	if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: tokenKey(accountID)}); err != nil {
		return fmt.Errorf("%s %s: delete token: %w", op, accountID, err)
	}
	return nil
}
