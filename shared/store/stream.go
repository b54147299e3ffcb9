package store

// What the publisher needs to read the table's stream: which kind of item a key names, and
// the sent replies a read receipt covers.

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/iginbox/iginbox/shared/domain"
)

// ItemKind is the kind of a table item, as told by its key.
type ItemKind int

// Item kinds. Only the domain state (channels, contacts, conversations, messages) is ever
// published; every other item (OAuth states, per-mid records, idempotency records, pending
// sends, archived bodies, unknown events, and items added later) is ItemOther.
const (
	ItemOther ItemKind = iota
	ItemChannel
	ItemContact
	ItemConversation
	ItemMessage
)

// KindOf classifies an item by its key.
func KindOf(pk, sk string) ItemKind {
	switch {
	case strings.HasPrefix(pk, "CH#") && sk == channelSK:
		return ItemChannel
	case strings.HasPrefix(pk, "CH#") && strings.HasPrefix(sk, "CONTACT#"):
		return ItemContact
	case strings.HasPrefix(pk, "CONV#") && sk == "CONV":
		return ItemConversation
	case strings.HasPrefix(pk, "CONV#") && strings.HasPrefix(sk, "MSG#"):
		return ItemMessage
	}
	return ItemOther
}

// MessagesBetween returns the messages of a conversation whose Meta timestamp lies in
// (afterMS, untilMS], oldest first. Queued and failed replies are keyed by their creation time
// and come back when it falls in the range.
func (s *Store) MessagesBetween(ctx context.Context, conversationID string, afterMS, untilMS int64) ([]domain.Message, error) {
	pk, _ := conversationKey(conversationID)
	expr, err := expression.NewBuilder().WithKeyCondition(
		expression.Key("pk").Equal(expression.Value(pk)).And(expression.Key("sk").Between(
			expression.Value(fmt.Sprintf("MSG#%013d", afterMS+1)), expression.Value(fmt.Sprintf("MSG#%013d#\uffff", untilMS)))),
	).Build()
	if err != nil {
		return nil, fmt.Errorf("messages between: %w", err)
	}
	var out []domain.Message
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    expr.KeyCondition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ConsistentRead:            aws.Bool(true),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("messages of %s between %d and %d: %w", conversationID, afterMS, untilMS, err)
		}
		var ms []domain.Message
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &ms); err != nil {
			return nil, fmt.Errorf("decode messages: %w", err)
		}
		out = append(out, ms...)
	}
	return out, nil
}
