package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/iginbox/iginbox/shared/domain"
)

// oauthStateTTLMargin keeps a used nonce a while after its state expired (DynamoDB's TTL
// deletes lazily; an expired state is refused by its signature check anyway).
const oauthStateTTLMargin = time.Hour

type oauthStateItem struct {
	PK        string    `dynamodbav:"pk"`
	SK        string    `dynamodbav:"sk"`
	UsedAt    time.Time `dynamodbav:"used_at"`
	ExpiresAt time.Time `dynamodbav:"expires_at"`
	TTL       int64     `dynamodbav:"ttl"`
}

// UseOAuthState consumes the single-use nonce of an OAuth state with a conditional put: the
// first call succeeds, every later call for the same nonce fails with ErrConflict (replay).
func (s *Store) UseOAuthState(ctx context.Context, nonce string, expiresAt, now time.Time) error {
	if nonce == "" {
		return fmt.Errorf("use oauth state: empty nonce")
	}
	item, err := attributevalue.MarshalMap(oauthStateItem{
		PK: "STATE#" + nonce, SK: "STATE",
		UsedAt: now.UTC(), ExpiresAt: expiresAt.UTC(),
		TTL: expiresAt.Add(oauthStateTTLMargin).Unix(),
	})
	if err != nil {
		return fmt.Errorf("use oauth state: marshal: %w", err)
	}
	cond, err := expression.NewBuilder().WithCondition(expression.AttributeNotExists(expression.Name("pk"))).Build()
	if err != nil {
		return fmt.Errorf("use oauth state: %w", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      item,
		ConditionExpression:       cond.Condition(),
		ExpressionAttributeNames:  cond.Names(),
		ExpressionAttributeValues: cond.Values(),
	})
	if err != nil {
		if isConditionFailed(err) {
			return fmt.Errorf("use oauth state: already used: %w", domain.ErrConflict)
		}
		return fmt.Errorf("use oauth state: %w", err)
	}
	return nil
}
