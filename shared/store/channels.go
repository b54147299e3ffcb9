package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/iginbox/iginbox/shared/domain"
)

// Key values of channel items (docs/data-model.md).
const (
	channelSK      = "CHANNEL"
	channelsGSI1PK = "CHANNELS"
	tokenGSI2PK    = "TOKEN"
)

// keyTime formats times used in sort keys: fixed width, UTC, so string order is time order.
const keyTime = "2006-01-02T15:04:05Z"

func channelPK(accountID string) string { return "CH#" + accountID }

func tokenSortKey(expires time.Time, accountID string) string {
	return expires.UTC().Format(keyTime) + "#" + accountID
}

// channelItem is a channel as stored: the record plus its keys.
type channelItem struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	GSI1PK string `dynamodbav:"gsi1pk"`
	GSI1SK string `dynamodbav:"gsi1sk"`
	GSI2PK string `dynamodbav:"gsi2pk,omitempty"`
	GSI2SK string `dynamodbav:"gsi2sk,omitempty"`
	domain.Channel
}

func channelKey(accountID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: channelPK(accountID)},
		"sk": &types.AttributeValueMemberS{Value: channelSK},
	}
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// ConnectChannel creates the channel of a newly connected account (conditional put) or, when
// it exists, updates it for a re-connect (conditional update): new token and expiry, profile
// fields, reauth_required cleared, back in the refresh index, subscription pending. The
// lock setting and connected_at of an existing channel are kept. The token item is written in
// the same transaction. created reports which one happened. ch.ID, ch.AccessToken and
// ch.TokenExpiresAt are required.
func (s *Store) ConnectChannel(ctx context.Context, ch domain.Channel, now time.Time) (created bool, err error) {
	if ch.ID == "" || ch.AccessToken == "" || ch.TokenExpiresAt.IsZero() {
		return false, fmt.Errorf("connect channel: id, token and expiry are required")
	}
	now = now.UTC().Truncate(time.Second) // whole seconds: stored strings compare in time order
	ch.TokenExpiresAt = ch.TokenExpiresAt.UTC().Truncate(time.Second)
	ch.TokenRefreshedAt = now
	ch.ConnectedAt, ch.UpdatedAt = now, now
	ch.ReauthRequired, ch.ReauthReason, ch.ReauthAt = false, "", time.Time{}
	ch.Subscribed, ch.SubscribeError = false, ""
	ch.Status, ch.DisconnectedAt, ch.DisconnectReason = domain.ChannelConnected, time.Time{}, ""
	item, err := attributevalue.MarshalMapWithOptions(channelItem{
		PK: channelPK(ch.ID), SK: channelSK,
		GSI1PK: channelsGSI1PK, GSI1SK: now.Format(time.RFC3339Nano),
		GSI2PK: tokenGSI2PK, GSI2SK: tokenSortKey(ch.TokenExpiresAt, ch.ID),
		Channel: ch,
	}, func(o *attributevalue.EncoderOptions) { o.OmitEmptyTime = true })
	if err != nil {
		return false, fmt.Errorf("connect channel %s: marshal: %w", ch.ID, err)
	}
	tx := s.newTxn()
	tx.put(item, expression.AttributeNotExists(expression.Name("pk")))
	tx.putToken(ch.ID, ch.AccessToken, now)
	err = s.commit(ctx, tx)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, domain.ErrConflict) {
		return false, fmt.Errorf("connect channel %s: put: %w", ch.ID, err)
	}
	// Re-connect of an existing channel.
	upd := expression.
		Set(expression.Name("token_expires_at"), expression.Value(ch.TokenExpiresAt)).
		Set(expression.Name("token_refreshed_at"), expression.Value(now)).
		Set(expression.Name("username"), expression.Value(ch.Username)).
		Set(expression.Name("name"), expression.Value(ch.Name)).
		Set(expression.Name("account_type"), expression.Value(ch.AccountType)).
		Set(expression.Name("reauth_required"), expression.Value(false)).
		Set(expression.Name("subscribed"), expression.Value(false)).
		Set(expression.Name("updated_at"), expression.Value(now)).
		Set(expression.Name("reconnected_at"), expression.Value(now)).
		Set(expression.Name("gsi2pk"), expression.Value(tokenGSI2PK)).
		Set(expression.Name("gsi2sk"), expression.Value(tokenSortKey(ch.TokenExpiresAt, ch.ID))).
		Remove(expression.Name("reauth_reason")).
		Remove(expression.Name("reauth_at")).
		Remove(expression.Name("subscribe_error")).
		Remove(expression.Name("status")).
		Remove(expression.Name("disconnected_at")).
		Remove(expression.Name("disconnect_reason")).
		Remove(expression.Name("unsubscribed_at")).
		Remove(expression.Name("unsubscribe_error")).
		Remove(expression.Name("access_token")) // left by versions that kept it here
	tx = s.newTxn()
	tx.update(channelKey(ch.ID), upd, expression.AttributeExists(expression.Name("pk")))
	tx.putToken(ch.ID, ch.AccessToken, now)
	if err := s.commit(ctx, tx); err != nil {
		if errors.Is(err, domain.ErrConflict) {
			return false, fmt.Errorf("connect channel %s: deleted meanwhile: %w", ch.ID, domain.ErrConflict)
		}
		return false, fmt.Errorf("connect channel %s: update: %w", ch.ID, err)
	}
	return false, nil
}

// GetChannel reads a channel; ErrNotFound when absent.
func (s *Store) GetChannel(ctx context.Context, accountID string) (domain.Channel, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            channelKey(accountID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return domain.Channel{}, fmt.Errorf("get channel %s: %w", accountID, err)
	}
	if out.Item == nil {
		return domain.Channel{}, fmt.Errorf("get channel %s: %w", accountID, domain.ErrNotFound)
	}
	var ch domain.Channel
	if err := attributevalue.UnmarshalMap(out.Item, &ch); err != nil {
		return domain.Channel{}, fmt.Errorf("get channel %s: unmarshal: %w", accountID, err)
	}
	return ch, nil
}

// ListChannels returns every channel, newest connection first (gsi1 CHANNELS).
func (s *Store) ListChannels(ctx context.Context) ([]domain.Channel, error) {
	channels, err := queryGSI1All[domain.Channel](ctx, s, channelsGSI1PK)
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	return channels, nil
}

// queryGSI1All reads every item of a gsi1 partition, newest (highest gsi1sk) first.
func queryGSI1All[T any](ctx context.Context, s *Store, pk string) ([]T, error) {
	expr, err := expression.NewBuilder().WithKeyCondition(expression.Key("gsi1pk").Equal(expression.Value(pk))).Build()
	if err != nil {
		return nil, err
	}
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(IndexGSI1),
		KeyConditionExpression:    expr.KeyCondition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ScanIndexForward:          aws.Bool(false),
	})
	out := []T{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		var batch []T
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &batch); err != nil {
			return nil, fmt.Errorf("unmarshal: %w", err)
		}
		out = append(out, batch...)
	}
	return out, nil
}

// SetLockToSingleConversation sets the channel's lock setting and returns the channel;
// ErrNotFound when absent.
func (s *Store) SetLockToSingleConversation(ctx context.Context, accountID string, lock bool, now time.Time) (domain.Channel, error) {
	upd := expression.Set(expression.Name("lock_to_single_conversation"), expression.Value(lock)).
		Set(expression.Name("updated_at"), expression.Value(now.UTC()))
	return s.updateChannel(ctx, "set lock", accountID, upd, expression.AttributeExists(expression.Name("pk")))
}

// SetSubscription records the outcome of the webhook subscription: subscribed, or not with
// the reason (Meta's error text).
func (s *Store) SetSubscription(ctx context.Context, accountID string, subscribed bool, reason string, now time.Time) error {
	upd := expression.Set(expression.Name("subscribed"), expression.Value(subscribed)).
		Set(expression.Name("updated_at"), expression.Value(now.UTC()))
	if subscribed || reason == "" {
		upd = upd.Remove(expression.Name("subscribe_error"))
	} else {
		upd = upd.Set(expression.Name("subscribe_error"), expression.Value(reason))
	}
	_, err := s.updateChannel(ctx, "set subscription", accountID, upd, expression.AttributeExists(expression.Name("pk")))
	return err
}

// FlagReauth marks the channel as needing re-authorization (its token is dead): the flag, the
// reason and the time are set, the dead token is deleted and the channel leaves the refresh
// index. ErrNotFound when absent.
func (s *Store) FlagReauth(ctx context.Context, accountID, reason string, at time.Time) error {
	if _, err := s.updateChannel(ctx, "flag reauth", accountID, flagUpdate(reason, at), expression.AttributeExists(expression.Name("pk"))); err != nil {
		return err
	}
	return s.deleteToken(ctx, "flag reauth", accountID) // the dead token
}

// FlagReauthIfToken is FlagReauth conditional on the channel still holding token: a re-connect
// that stored a new token meanwhile (or a disconnect) wins (ErrConflict).
func (s *Store) FlagReauthIfToken(ctx context.Context, accountID, token, reason string, at time.Time) error {
	tx := s.newTxn()
	tx.delete(tokenKey(accountID), expression.Name("access_token").Equal(expression.Value(token))) // the dead token
	tx.update(channelKey(accountID), flagUpdate(reason, at), expression.AttributeExists(expression.Name("pk")))
	if err := s.commit(ctx, tx); err != nil {
		return fmt.Errorf("flag reauth %s: %w", accountID, err)
	}
	return nil
}

func flagUpdate(reason string, at time.Time) expression.UpdateBuilder {
	return expression.Set(expression.Name("reauth_required"), expression.Value(true)).
		Set(expression.Name("reauth_reason"), expression.Value(reason)).
		Set(expression.Name("reauth_at"), expression.Value(at.UTC())).
		Set(expression.Name("updated_at"), expression.Value(at.UTC())).
		Remove(expression.Name("access_token")).
		Remove(expression.Name("gsi2pk")).
		Remove(expression.Name("gsi2sk"))
}

// UpdateToken stores a refreshed token, conditional on the channel still holding oldToken and
// not being flagged: if a re-connect (or a flag) raced the refresh, the write is refused with
// ErrConflict and nothing is lost. Token item and channel change in one transaction.
func (s *Store) UpdateToken(ctx context.Context, accountID, oldToken, newToken string, expiresAt, refreshedAt time.Time) error {
	expiresAt, refreshedAt = expiresAt.UTC().Truncate(time.Second), refreshedAt.UTC().Truncate(time.Second)
	upd := expression.Set(expression.Name("token_expires_at"), expression.Value(expiresAt)).
		Set(expression.Name("token_refreshed_at"), expression.Value(refreshedAt)).
		Set(expression.Name("updated_at"), expression.Value(refreshedAt)).
		Set(expression.Name("gsi2pk"), expression.Value(tokenGSI2PK)).
		Set(expression.Name("gsi2sk"), expression.Value(tokenSortKey(expiresAt, accountID)))
	tx := s.newTxn()
	tx.update(tokenKey(accountID), expression.Set(expression.Name("access_token"), expression.Value(newToken)).
		Set(expression.Name("updated_at"), expression.Value(refreshedAt)),
		expression.Name("access_token").Equal(expression.Value(oldToken)))
	tx.update(channelKey(accountID), upd, expression.Name("reauth_required").Equal(expression.Value(false)))
	if err := s.commit(ctx, tx); err != nil {
		return fmt.Errorf("update token %s: %w", accountID, err)
	}
	return nil
}

// updateChannel applies a conditional update. A failed condition is ErrNotFound when the
// channel does not exist and ErrConflict otherwise.
func (s *Store) updateChannel(ctx context.Context, op, accountID string, upd expression.UpdateBuilder, cond expression.ConditionBuilder) (domain.Channel, error) {
	expr, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
	if err != nil {
		return domain.Channel{}, fmt.Errorf("%s %s: %w", op, accountID, err)
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 channelKey(accountID),
		UpdateExpression:                    expr.Update(),
		ConditionExpression:                 expr.Condition(),
		ExpressionAttributeNames:            expr.Names(),
		ExpressionAttributeValues:           expr.Values(),
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			if len(ccf.Item) == 0 {
				return domain.Channel{}, fmt.Errorf("%s %s: %w", op, accountID, domain.ErrNotFound)
			}
			return domain.Channel{}, fmt.Errorf("%s %s: %w", op, accountID, domain.ErrConflict)
		}
		return domain.Channel{}, fmt.Errorf("%s %s: %w", op, accountID, err)
	}
	var ch domain.Channel
	if err := attributevalue.UnmarshalMap(out.Attributes, &ch); err != nil {
		return domain.Channel{}, fmt.Errorf("%s %s: unmarshal: %w", op, accountID, err)
	}
	return ch, nil
}

// DueChannels returns the channels whose token should be refreshed now: in the refresh index
// (so not flagged), expiring at or before now+horizon, and refreshed at least minAge ago
// (Meta refuses to refresh younger tokens). It queries gsi2 by expiry, so it reads only the
// channels expiring within the horizon, never the whole table.
func (s *Store) DueChannels(ctx context.Context, now time.Time, horizon, minAge time.Duration) ([]domain.Channel, domain.ReadStats, error) {
	var stats domain.ReadStats
	keyCond := expression.Key("gsi2pk").Equal(expression.Value(tokenGSI2PK)).
		And(expression.Key("gsi2sk").LessThanEqual(expression.Value(now.Add(horizon).UTC().Format(keyTime) + "#\uffff")))
	filter := expression.Name("token_refreshed_at").LessThanEqual(expression.Value(now.Add(-minAge).UTC().Truncate(time.Second)))
	expr, err := expression.NewBuilder().WithKeyCondition(keyCond).WithFilter(filter).Build()
	if err != nil {
		return nil, stats, fmt.Errorf("due channels: %w", err)
	}
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(IndexGSI2),
		KeyConditionExpression:    expr.KeyCondition(),
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	})
	due := []domain.Channel{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, stats, fmt.Errorf("due channels: %w", err)
		}
		stats.Pages++
		stats.ItemsRead += int(page.ScannedCount)
		if page.ConsumedCapacity != nil {
			stats.ReadCapacityUnits += aws.ToFloat64(page.ConsumedCapacity.CapacityUnits)
		}
		var batch []domain.Channel
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &batch); err != nil {
			return nil, stats, fmt.Errorf("due channels: unmarshal: %w", err)
		}
		if err := s.withTokens(ctx, batch); err != nil {
			return nil, stats, fmt.Errorf("due channels: %w", err)
		}
		due = append(due, batch...)
	}
	return due, stats, nil
}

// withTokens reads the token items of chs (BatchGetItem, 100 keys per call) into them; a
// channel without a token item keeps an empty AccessToken.
func (s *Store) withTokens(ctx context.Context, chs []domain.Channel) error {
	byID := make(map[string]*domain.Channel, len(chs))
	for i := range chs {
		byID[chs[i].ID] = &chs[i]
	}
	for start := 0; start < len(chs); start += 100 {
		var keys []map[string]types.AttributeValue
		for _, ch := range chs[start:min(start+100, len(chs))] {
			keys = append(keys, tokenKey(ch.ID))
		}
		items, err := s.batchGet(ctx, keys)
		if err != nil {
			return fmt.Errorf("read tokens: %w", err)
		}
		for _, it := range items {
			var tok tokenItem
			if err := attributevalue.UnmarshalMap(it, &tok); err != nil {
				return fmt.Errorf("read tokens: unmarshal: %w", err)
			}
			if ch := byID[tok.ChannelID]; ch != nil {
				ch.AccessToken = tok.AccessToken
			}
		}
	}
	return nil
}
