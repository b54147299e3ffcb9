package store

// Agent identities: named API keys (stored as a hash with a short visible prefix) and the
// browser sessions signed in with them.

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/iginbox/iginbox/shared/domain"
)

const apiKeysGSI1PK = "APIKEYS"

type apiKeyItem struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	GSI1PK string `dynamodbav:"gsi1pk"`
	GSI1SK string `dynamodbav:"gsi1sk"`
	domain.APIKey
}

func apiKeyKey(id string) (string, string) { return "APIKEY#" + id, "APIKEY" }

// CreateAPIKey stores a new key (ErrConflict when its id exists).
func (s *Store) CreateAPIKey(ctx context.Context, k domain.APIKey) error {
	pk, sk := apiKeyKey(k.ID)
	k.CreatedAt = k.CreatedAt.UTC()
	item, err := attributevalue.MarshalMap(apiKeyItem{PK: pk, SK: sk, GSI1PK: apiKeysGSI1PK,
		GSI1SK: k.CreatedAt.Format(time.RFC3339Nano) + "#" + k.ID, APIKey: k})
	if err != nil {
		return fmt.Errorf("create api key %s: marshal: %w", k.ID, err)
	}
	// Unset times are absent (revocation and use are recorded with if_not_exists / conditions).
	if k.LastUsedAt.IsZero() {
		delete(item, "last_used_at")
	}
	if k.RevokedAt.IsZero() {
		delete(item, "revoked_at")
	}
	return s.putNew(ctx, "create api key "+k.ID, item)
}

// GetAPIKey reads a key (strongly consistent, so a revocation counts at once); error wrapping
// ErrNotFound when absent.
func (s *Store) GetAPIKey(ctx context.Context, id string) (domain.APIKey, error) {
	var k domain.APIKey
	if err := s.getItem(ctx, key(apiKeyKey(id)), &k); err != nil {
		return k, fmt.Errorf("api key %s: %w", id, err)
	}
	return k, nil
}

// ListAPIKeys returns every key, newest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]domain.APIKey, error) {
	keys, err := queryGSI1All[domain.APIKey](ctx, s, apiKeysGSI1PK)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return keys, nil
}

// RevokeAPIKey marks a key revoked (keeping the first revocation time) and returns it; error
// wrapping ErrNotFound when absent.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, now time.Time) (domain.APIKey, error) {
	upd := expression.Set(expression.Name("revoked_at"),
		expression.IfNotExists(expression.Name("revoked_at"), expression.Value(now.UTC().Format(time.RFC3339Nano))))
	expr, err := expression.NewBuilder().WithUpdate(upd).WithCondition(expression.AttributeExists(expression.Name("pk"))).Build()
	if err != nil {
		return domain.APIKey{}, fmt.Errorf("revoke api key %s: %w", id, err)
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(apiKeyKey(id)),
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		ReturnValues: "ALL_NEW",
	})
	if isConditionFailed(err) {
		return domain.APIKey{}, fmt.Errorf("revoke api key %s: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return domain.APIKey{}, fmt.Errorf("revoke api key %s: %w", id, err)
	}
	var k domain.APIKey
	if err := attributevalue.UnmarshalMap(out.Attributes, &k); err != nil {
		return domain.APIKey{}, fmt.Errorf("revoke api key %s: unmarshal: %w", id, err)
	}
	return k, nil
}

// TouchAPIKey records that the key was used at now, at most once per every (a conditional
// write that does nothing when last_used_at is recent, so busy keys cost no extra writes).
func (s *Store) TouchAPIKey(ctx context.Context, id string, now time.Time, every time.Duration) error {
	cutoff := now.Add(-every).UTC().Format(time.RFC3339Nano)
	cond := expression.AttributeExists(expression.Name("pk")).And(
		expression.AttributeNotExists(expression.Name("last_used_at")).Or(expression.Name("last_used_at").LessThan(expression.Value(cutoff))))
	expr, err := expression.NewBuilder().
		WithUpdate(expression.Set(expression.Name("last_used_at"), expression.Value(now.UTC().Format(time.RFC3339Nano)))).
		WithCondition(cond).Build()
	if err != nil {
		return fmt.Errorf("touch api key %s: %w", id, err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(apiKeyKey(id)),
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("touch api key %s: %w", id, err)
	}
	return nil
}

type sessionItem struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
	domain.Session
	TTL int64 `dynamodbav:"ttl"`
}

func sessionKey(id string) (string, string) { return "SESSION#" + id, "SESSION" }

// CreateSession stores a session; DynamoDB's TTL removes it after it expired (it is refused
// from its expiry on, whatever the TTL sweep does).
func (s *Store) CreateSession(ctx context.Context, sess domain.Session) error {
	pk, sk := sessionKey(sess.ID)
	item, err := attributevalue.MarshalMap(sessionItem{PK: pk, SK: sk, Session: sess, TTL: sess.ExpiresAt.Add(time.Hour).Unix()})
	if err != nil {
		return fmt.Errorf("create session: marshal: %w", err)
	}
	return s.putNew(ctx, "create session", item)
}

// GetSession reads a session; error wrapping ErrNotFound when absent (logged out).
func (s *Store) GetSession(ctx context.Context, id string) (domain.Session, error) {
	var sess domain.Session
	if err := s.getItem(ctx, key(sessionKey(id)), &sess); err != nil {
		return sess, fmt.Errorf("session: %w", err)
	}
	return sess, nil
}

// DeleteSession ends a session (idempotent).
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key(sessionKey(id))}); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// putNew puts an item that must not exist yet (ErrConflict when it does).
func (s *Store) putNew(ctx context.Context, op string, item map[string]types.AttributeValue) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if isConditionFailed(err) {
		return fmt.Errorf("%s: %w", op, domain.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}
