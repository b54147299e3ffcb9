package store

// What the publisher needs to read the table's stream: which kind of item a key names, the
// domain value an item image holds, and the sent replies a read receipt covers.

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/iginbox/iginbox/shared/domain"
)

// StreamItems decodes the items of the table's stream records for the publisher: which kind
// of domain state a key names, and the domain value an item image holds.
type StreamItems struct{}

// Kind classifies an item by its key.
func (StreamItems) Kind(pk, sk string) domain.ItemKind {
	switch {
	case strings.HasPrefix(pk, "CH#") && sk == channelSK:
		return domain.ItemChannel
	case strings.HasPrefix(pk, "CH#") && strings.HasPrefix(sk, "CONTACT#"):
		return domain.ItemContact
	case strings.HasPrefix(pk, "CONV#") && sk == "CONV":
		return domain.ItemConversation
	case strings.HasPrefix(pk, "CONV#") && strings.HasPrefix(sk, "MSG#"):
		return domain.ItemMessage
	}
	return domain.ItemOther
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

// Decode decodes a stream record's item image (as the Lambda event carries it) into out, a
// pointer to the domain type of the item's kind (*domain.Message, *domain.Contact,
// *domain.Conversation or *domain.Channel).
func (StreamItems) Decode(img map[string]events.DynamoDBAttributeValue, out any) error {
	av, err := toImage(img)
	if err != nil {
		return err
	}
	return attributevalue.UnmarshalMap(av, out)
}

// toImage converts a stream image (the Lambda event's attribute values) into the SDK's form,
// so that attributevalue decodes it.
func toImage(in map[string]events.DynamoDBAttributeValue) (map[string]types.AttributeValue, error) {
	if in == nil {
		return nil, nil
	}
	out := make(map[string]types.AttributeValue, len(in))
	for k, v := range in {
		av, err := toAttributeValue(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", k, err)
		}
		out[k] = av
	}
	return out, nil
}

func toAttributeValue(v events.DynamoDBAttributeValue) (types.AttributeValue, error) {
	switch v.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}, nil
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}, nil
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: v.Binary()}, nil
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: v.StringSet()}, nil
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: v.NumberSet()}, nil
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: v.BinarySet()}, nil
	case events.DataTypeList:
		l := v.List()
		out := make([]types.AttributeValue, 0, len(l))
		for i, e := range l {
			av, err := toAttributeValue(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out = append(out, av)
		}
		return &types.AttributeValueMemberL{Value: out}, nil
	case events.DataTypeMap:
		m, err := toImage(v.Map())
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	}
	return nil, fmt.Errorf("unsupported attribute type %d", v.DataType())
}
