package store

// The index of reply parts nobody tried to send yet, read by the sweeper (docs/outbound.md,
// "Sweeper").

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/iginbox/iginbox/shared/domain"
)

// unattemptedPK is the gsi1 partition of a queued part that was never attempted. CreateOutgoing
// sets it; the first attempt (BeginAttempt) and any failure (MarkFailed) remove it.
func unattemptedPK(conversationID string) string { return "OUTQ#" + conversationID[:1] }

// unattemptedSK orders a shard by creation time.
func unattemptedSK(createdMS int64, conversationID string) string {
	return fmt.Sprintf("%013d#%s", createdMS, conversationID)
}

// UnattemptedParts lists the parts of one shard (UnattemptedShards) created before beforeMS
// that were never attempted, oldest first, at most limit (one Query of gsi1; the index holds
// only such parts, so nothing else is read).
func (s *Store) UnattemptedParts(ctx context.Context, shard string, beforeMS int64, limit int32) ([]domain.OutgoingPart, error) {
	expr, err := expression.NewBuilder().WithKeyCondition(
		expression.Key("gsi1pk").Equal(expression.Value("OUTQ#" + shard)).
			And(expression.Key("gsi1sk").LessThan(expression.Value(fmt.Sprintf("%013d", beforeMS)))),
	).Build()
	if err != nil {
		return nil, fmt.Errorf("unattempted parts: %w", err)
	}
	res, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String("gsi1"),
		KeyConditionExpression:    expr.KeyCondition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		Limit:                     aws.Int32(limit),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return nil, fmt.Errorf("unattempted parts of shard %s: %w", shard, err)
	}
	var out []domain.OutgoingPart
	if err := attributevalue.UnmarshalListOfMaps(res.Items, &out); err != nil {
		return nil, fmt.Errorf("decode unattempted parts: %w", err)
	}
	return out, nil
}

// FailUnattempted marks a part failed with e if it is still queued and was never attempted
// (send_attempt = 0), and removes it from the index of UnattemptedParts. A part the sender
// began meanwhile, or that is gone (sent, erased), is left alone: ErrConflict.
func (s *Store) FailUnattempted(ctx context.Context, conversationID, messageSK string, e domain.SendError) error {
	pk, _ := conversationKey(conversationID)
	av, err := attributevalue.MarshalMap(e)
	if err != nil {
		return fmt.Errorf("marshal send error: %w", err)
	}
	no := false
	expr, err := expression.NewBuilder().WithUpdate(
		expression.Set(expression.Name("status"), expression.Value(domain.MessageFailed)).
			Set(expression.Name("error"), expression.Value(&types.AttributeValueMemberM{Value: av})).
			Remove(expression.Name("gsi1pk")).Remove(expression.Name("gsi1sk")),
	).WithCondition(outgoingCondition(0, &no)).Build()
	if err != nil {
		return fmt.Errorf("fail unattempted part: %w", err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(pk, messageSK),
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	if isConditionFailed(err) {
		return fmt.Errorf("fail unattempted part %s: %w", messageSK, domain.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("fail unattempted part %s: %w", messageSK, err)
	}
	return nil
}
