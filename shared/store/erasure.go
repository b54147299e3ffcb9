package store

// Disconnect, data-deletion requests, account purge and contact erasure. Every item of an
// account is reachable without a Scan (docs/data-model.md, "Erasure"): the channel and contacts
// under CH#<account>, conversations through gsi1 CH#<account>#CONVS, messages in their
// conversation partitions, per-mid records by the mids of the messages or, for records without
// a stored message, through gsi1 MIDS#<account>, unknown events through gsi1 EVTS#<account>,
// idempotency records through gsi1 CONV#<id>#IDEM, pending sends under OUTPEND#<account>#<igsid>
// and archived webhook bodies through gsi1 ARCH#<account>.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iginbox/iginbox/shared/archive"
	"github.com/iginbox/iginbox/shared/domain"
)

// Index partitions that make an account's items reachable without a Scan.
func orphanMIDsPK(accountID string) string    { return "MIDS#" + accountID }
func unknownEventsPK(accountID string) string { return "EVTS#" + accountID }
func idempotencyIndexPK(conversationID string) string {
	return "CONV#" + conversationID + "#IDEM"
}

// Disconnect marks the channel disconnected (MarkDisconnected) and deletes its access token.
// ErrNotFound when the channel does not exist.
func (s *Store) Disconnect(ctx context.Context, accountID, reason string, at time.Time) (domain.Channel, error) {
	ch, err := s.MarkDisconnected(ctx, accountID, reason, at)
	if err != nil {
		return ch, err
	}
	// A failure here leaves the channel disconnected (its token never used) and a repeated
	// disconnect deletes it.
	return ch, s.DeleteToken(ctx, accountID)
}

// MarkDisconnected marks the channel disconnected and takes it out of the refresh index; its
// token item stays (FinishUnsubscribe or DeleteToken deletes it). The webhook events of the
// account are ignored and replies refused until it is connected again (ConnectChannel clears
// it). Idempotent: the first disconnect time is kept. ErrNotFound when the channel does not
// exist.
func (s *Store) MarkDisconnected(ctx context.Context, accountID, reason string, at time.Time) (domain.Channel, error) {
	at = at.UTC().Truncate(time.Second)
	upd := expression.Set(expression.Name("status"), expression.Value(domain.ChannelDisconnected)).
		Set(expression.Name("disconnected_at"), expression.IfNotExists(expression.Name("disconnected_at"), expression.Value(at))).
		Set(expression.Name("disconnect_reason"), expression.IfNotExists(expression.Name("disconnect_reason"), expression.Value(reason))).
		Set(expression.Name("subscribed"), expression.Value(false)).
		Set(expression.Name("updated_at"), expression.Value(at)).
		Remove(expression.Name("access_token")). // left by versions that kept it here
		Remove(expression.Name("gsi2pk")).
		Remove(expression.Name("gsi2sk"))
	return s.updateChannel(ctx, "disconnect", accountID, upd, expression.AttributeExists(expression.Name("pk")))
}

// DeleteToken deletes the channel's token item without reading it (the api function may). A
// missing item is fine.
func (s *Store) DeleteToken(ctx context.Context, accountID string) error {
	return s.deleteToken(ctx, "delete token", accountID)
}

// FinishUnsubscribe records the outcome of a disconnected channel's webhook unsubscription,
// unsubscribed_at = at when unsubscribeErr is empty, else unsubscribe_error = unsubscribeErr
// (Meta's message, never a token), and deletes the token item when it still holds token (""
// = no token was found). One transaction, conditional on the channel still being disconnected:
// a re-connect that raced the unsubscription keeps its fresh token (ErrConflict).
func (s *Store) FinishUnsubscribe(ctx context.Context, accountID, token string, at time.Time, unsubscribeErr string) error {
	at = at.UTC().Truncate(time.Second)
	upd := expression.Set(expression.Name("updated_at"), expression.Value(at))
	if unsubscribeErr == "" {
		upd = upd.Set(expression.Name("unsubscribed_at"), expression.Value(at)).Remove(expression.Name("unsubscribe_error"))
	} else {
		upd = upd.Set(expression.Name("unsubscribe_error"), expression.Value(unsubscribeErr))
	}
	tx := s.newTxn()
	tx.update(channelKey(accountID), upd, expression.Name("status").Equal(expression.Value(domain.ChannelDisconnected)))
	if token != "" {
		tx.delete(tokenKey(accountID), expression.Name("access_token").Equal(expression.Value(token)))
	}
	if err := s.commit(ctx, tx); err != nil {
		return fmt.Errorf("finish unsubscribe %s: %w", accountID, err)
	}
	return nil
}

// DeletionRequestRetention is how long a request's status stays readable.
const DeletionRequestRetention = 90 * 24 * time.Hour

func deletionKey(code string) map[string]types.AttributeValue { return key("DELREQ#"+code, "DELREQ") }

// CreateDeletionRequest records a new pending request (conditional: a code is used once).
func (s *Store) CreateDeletionRequest(ctx context.Context, code, source string, now time.Time) error {
	r := domain.DeletionRequest{Code: code, Status: domain.DeletionPending, Source: source, RequestedAt: now.UTC(),
		TTL: now.Add(DeletionRequestRetention).Unix()}
	item, err := marshalItem(r, "DELREQ#"+code, "DELREQ")
	if err != nil {
		return fmt.Errorf("create deletion request: %w", err)
	}
	item["type"] = &types.AttributeValueMemberS{Value: "deletion_request"}
	cond, err := expression.NewBuilder().WithCondition(expression.AttributeNotExists(expression.Name("pk"))).Build()
	if err != nil {
		return fmt.Errorf("create deletion request: %w", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression: cond.Condition(), ExpressionAttributeNames: cond.Names(), ExpressionAttributeValues: cond.Values(),
	})
	if isConditionFailed(err) {
		return fmt.Errorf("create deletion request: %w", domain.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create deletion request: %w", err)
	}
	return nil
}

// GetDeletionRequest reads a request by its code; ErrNotFound when unknown.
func (s *Store) GetDeletionRequest(ctx context.Context, code string) (domain.DeletionRequest, error) {
	var r domain.DeletionRequest
	if err := s.getItem(ctx, deletionKey(code), &r); err != nil {
		return r, fmt.Errorf("deletion request: %w", err)
	}
	return r, nil
}

// RecordPurgeStep adds one step's counts to the request; started is set on the first step and
// kept. When done, the request is completed (a second completion keeps the first time).
// Absent requests are ignored (a purge started without one).
func (s *Store) RecordPurgeStep(ctx context.Context, code string, deleted map[string]int, done bool, now time.Time) error {
	if code == "" {
		return nil
	}
	now = now.UTC()
	upd := expression.Set(expression.Name("started_at"), expression.IfNotExists(expression.Name("started_at"), expression.Value(now))).
		Add(expression.Name("steps"), expression.Value(1))
	for k, n := range deleted {
		if n > 0 {
			upd = upd.Set(expression.Name("deleted."+k), expression.Plus(expression.IfNotExists(expression.Name("deleted."+k), expression.Value(0)), expression.Value(n)))
		}
	}
	if done {
		upd = upd.Set(expression.Name("status"), expression.Value(domain.DeletionCompleted)).
			Set(expression.Name("completed_at"), expression.IfNotExists(expression.Name("completed_at"), expression.Value(now)))
	}
	// "deleted" must exist before its members can be set.
	if err := s.ensureDeletedMap(ctx, code); err != nil {
		return err
	}
	expr, err := expression.NewBuilder().WithUpdate(upd).WithCondition(expression.AttributeExists(expression.Name("pk"))).Build()
	if err != nil {
		return fmt.Errorf("record purge step: %w", err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: deletionKey(code),
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	if isConditionFailed(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record purge step: %w", err)
	}
	return nil
}

func (s *Store) ensureDeletedMap(ctx context.Context, code string) error {
	expr, err := expression.NewBuilder().
		WithUpdate(expression.Set(expression.Name("deleted"), expression.Value(map[string]int{}))).
		WithCondition(expression.AttributeExists(expression.Name("pk")).And(expression.AttributeNotExists(expression.Name("deleted")))).
		Build()
	if err != nil {
		return fmt.Errorf("record purge step: %w", err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: deletionKey(code),
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("record purge step: %w", err)
	}
	return nil
}

type stepState struct {
	budget  domain.Budget
	deleted map[string]int
	found   int          // items found still existing in this step (0 at the end of a pass: done)
	calls   atomic.Int64 // DynamoDB requests made (reported per step)
}

func (st *stepState) result(done bool) domain.StepResult {
	return domain.StepResult{Deleted: st.deleted, Done: done, Calls: int(st.calls.Load())}
}

func newStep(b domain.Budget) *stepState { return &stepState{budget: b, deleted: map[string]int{}} }

func (st *stepState) exhausted() bool {
	return st.found >= st.budget.Items || (!st.budget.Deadline.IsZero() && time.Now().After(st.budget.Deadline))
}

// PurgeAccountStep deletes the next chunk of the account's items and reports what it deleted
// and whether nothing is left. The channel is deleted last (while it exists, disconnected,
// the processor ignores the account's events). Conversations go one by one: messages and
// their per-mid records first, then idempotency records, then the conversation itself.
func (s *Store) PurgeAccountStep(ctx context.Context, accountID string, b domain.Budget) (domain.StepResult, error) {
	st := newStep(b)
	phases := []func(context.Context, string, *stepState) error{
		s.purgeConversations, s.purgeContacts, s.purgeIndexed, s.purgeChannel,
	}
	for _, phase := range phases {
		if err := phase(ctx, accountID, st); err != nil {
			return st.result(false), fmt.Errorf("purge %s: %w", accountID, err)
		}
		if st.exhausted() {
			return st.result(false), nil
		}
	}
	return st.result(st.found == 0), nil
}

// purgeConversations deletes the account's conversations through gsi1.
func (s *Store) purgeConversations(ctx context.Context, accountID string, st *stepState) error {
	seen := map[string]bool{}
	for !st.exhausted() {
		items, err := s.queryKeys(ctx, st, IndexGSI1, "gsi1pk", channelConvsPK(accountID), 25, "id")
		if err != nil {
			return err
		}
		fresh := 0
		for _, it := range items {
			id := stringAttr(it, "id")
			if id == "" || seen[id] {
				continue
			}
			seen[id], fresh = true, fresh+1
			if err := s.purgeConversation(ctx, accountID, id, st, nil); err != nil {
				return err
			}
			if st.exhausted() {
				return nil
			}
		}
		if fresh == 0 {
			return nil // nothing new (the index may still list what was just deleted)
		}
	}
	return nil
}

// purgeConversation deletes one conversation: messages, their per-mid records (or, with
// tombstone set, replaces them with content-free tombstones), idempotency records, then the
// conversation item. It stops early when the budget is spent; the conversation item stays
// until its partition is otherwise empty, so that it is found again.
func (s *Store) purgeConversation(ctx context.Context, accountID, convID string, st *stepState, tombstone *domain.MIDRecord) error {
	pk, convSK := conversationKey(convID)
	convExists := false
	for !st.exhausted() {
		items, err := s.queryKeys(ctx, st, "", "pk", pk, 500, "pk", "sk", "mid")
		if err != nil {
			return err
		}
		var del []map[string]types.AttributeValue
		var puts []map[string]types.AttributeValue
		msgs := 0
		for _, it := range items {
			sk := stringAttr(it, "sk")
			if sk == convSK {
				convExists = true
				continue
			}
			del = append(del, key(pk, sk))
			msgs++
			if mid := stringAttr(it, "mid"); mid != "" {
				if tombstone != nil {
					ts := *tombstone
					ts.MID = mid
					item, err := marshalItem(ts, "MID#"+accountID+"#"+mid, "MID")
					if err != nil {
						return fmt.Errorf("marshal tombstone: %w", err)
					}
					item["type"] = &types.AttributeValueMemberS{Value: "mid"}
					item["gsi1pk"] = &types.AttributeValueMemberS{Value: orphanMIDsPK(accountID)}
					item["gsi1sk"] = &types.AttributeValueMemberS{Value: mid}
					puts = append(puts, item)
				} else {
					del = append(del, key(midKey(accountID, mid)))
				}
			}
		}
		if len(del) == 0 {
			break
		}
		// Tombstones first: a message is never gone while its mid could still be stored again.
		if err := s.batchWrite(ctx, st, puts, nil); err != nil {
			return err
		}
		if err := s.batchWrite(ctx, st, nil, del); err != nil {
			return err
		}
		st.found += len(del)
		st.deleted[domain.KindMessage] += msgs
		if tombstone != nil {
			st.deleted[domain.KindMIDTombstones] += len(puts)
		} else {
			st.deleted[domain.KindMIDRecord] += len(del) - msgs
		}
	}
	if st.exhausted() {
		return nil
	}
	for !st.exhausted() {
		idem, err := s.queryKeys(ctx, st, IndexGSI1, "gsi1pk", idempotencyIndexPK(convID), 100, "pk", "sk")
		if err != nil {
			return err
		}
		if len(idem) == 0 {
			break
		}
		if err := s.batchWrite(ctx, st, nil, keysOf(idem)); err != nil {
			return err
		}
		st.found += len(idem)
		st.deleted[domain.KindIdempotency] += len(idem)
		if len(idem) < 100 {
			break
		}
	}
	if st.exhausted() || !convExists {
		return nil
	}
	if err := s.batchWrite(ctx, st, nil, []map[string]types.AttributeValue{key(pk, convSK)}); err != nil {
		return err
	}
	st.found++
	st.deleted[domain.KindConversation]++
	return nil
}

// purgeContacts deletes the account's contacts and their pending-send markers.
func (s *Store) purgeContacts(ctx context.Context, accountID string, st *stepState) error {
	for !st.exhausted() {
		items, err := s.queryPrefix(ctx, st, channelPK(accountID), "CONTACT#", 100, "pk", "sk", "igsid")
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return nil
		}
		for _, it := range items {
			if err := s.purgePendingSends(ctx, accountID, stringAttr(it, "igsid"), st); err != nil {
				return err
			}
		}
		if err := s.batchWrite(ctx, st, nil, keysOf(items)); err != nil {
			return err
		}
		st.found += len(items)
		st.deleted[domain.KindContact] += len(items)
	}
	return nil
}

func (s *Store) purgePendingSends(ctx context.Context, accountID, igsid string, st *stepState) error {
	if igsid == "" {
		return nil
	}
	pk, _ := pendingKey(accountID, igsid, "")
	items, err := s.queryKeys(ctx, st, "", "pk", pk, 100, "pk", "sk")
	if err != nil || len(items) == 0 {
		return err
	}
	if err := s.batchWrite(ctx, st, nil, keysOf(items)); err != nil {
		return err
	}
	st.found += len(items)
	st.deleted[domain.KindPendingSend] += len(items)
	return nil
}

// purgeIndexed deletes the account's per-mid records without a stored message (tombstones),
// unknown events and archived webhook bodies, all listed in gsi1.
func (s *Store) purgeIndexed(ctx context.Context, accountID string, st *stepState) error {
	for _, ix := range []struct{ pk, kind string }{
		{orphanMIDsPK(accountID), domain.KindMIDTombstones},
		{unknownEventsPK(accountID), domain.KindUnknownEvent},
	} {
		if err := s.purgeIndex(ctx, ix.pk, ix.kind, st); err != nil {
			return err
		}
		if st.exhausted() {
			return nil
		}
	}
	_, err := s.PurgeArchive(ctx, accountID, "", st)
	return err
}

func (s *Store) purgeIndex(ctx context.Context, indexPK, kind string, st *stepState) error {
	seen := map[string]bool{}
	for !st.exhausted() {
		items, err := s.queryKeys(ctx, st, IndexGSI1, "gsi1pk", indexPK, 200, "pk", "sk")
		if err != nil {
			return err
		}
		var del []map[string]types.AttributeValue
		for _, it := range items {
			id := stringAttr(it, "pk") + "\x00" + stringAttr(it, "sk")
			if !seen[id] {
				seen[id] = true
				del = append(del, key(stringAttr(it, "pk"), stringAttr(it, "sk")))
			}
		}
		if len(del) == 0 {
			return nil
		}
		if err := s.batchWrite(ctx, st, nil, del); err != nil {
			return err
		}
		st.found += len(del)
		st.deleted[kind] += len(del)
	}
	return nil
}

// PurgeArchive deletes the archived webhook bodies of an account (gsi1 ARCH#<account>), or,
// with contactIGSID set, only those that mention that contact. A body that also carries
// events of other accounts or contacts is deleted whole: the archive keeps exact bytes, so it
// cannot be edited. It returns how many bodies (items) it deleted. st may be nil (no budget).
func (s *Store) PurgeArchive(ctx context.Context, accountID, contactIGSID string, st *stepState) (int, error) {
	if st == nil {
		st = newStep(domain.Budget{Items: 1 << 30})
	}
	seen := map[string]bool{}
	total := 0
	for !st.exhausted() {
		kc := expression.Key("gsi1pk").Equal(expression.Value(archive.AccountIndexKey(accountID)))
		b := expression.NewBuilder().WithKeyCondition(kc).
			WithProjection(expression.NamesList(expression.Name("pk"), expression.Name("sk"), expression.Name("ref_pk"), expression.Name("ref_sk")))
		if contactIGSID != "" {
			b = b.WithFilter(expression.Contains(expression.Name("contacts"), contactIGSID))
		}
		expr, err := b.Build()
		if err != nil {
			return total, err
		}
		var items []map[string]types.AttributeValue
		var start map[string]types.AttributeValue
		for {
			st.calls.Add(1)
			res, err := s.db.Query(ctx, &dynamodb.QueryInput{
				TableName: aws.String(s.table), IndexName: aws.String(IndexGSI1),
				KeyConditionExpression: expr.KeyCondition(), FilterExpression: expr.Filter(),
				ProjectionExpression: expr.Projection(), ExpressionAttributeNames: expr.Names(),
				ExpressionAttributeValues: expr.Values(), Limit: aws.Int32(200), ExclusiveStartKey: start,
			})
			if err != nil {
				return total, fmt.Errorf("query archive index: %w", err)
			}
			items = append(items, res.Items...)
			start = res.LastEvaluatedKey
			if start == nil || len(items) >= 200 {
				break
			}
		}
		var del []map[string]types.AttributeValue
		for _, it := range items {
			pk, sk := stringAttr(it, "pk"), stringAttr(it, "sk")
			if seen[pk+"\x00"+sk] {
				continue
			}
			seen[pk+"\x00"+sk] = true
			del = append(del, key(pk, sk))
			if rp, rs := stringAttr(it, "ref_pk"), stringAttr(it, "ref_sk"); rp != "" {
				del = append(del, key(rp, rs))
			}
		}
		if len(del) == 0 {
			return total, nil
		}
		if err := s.batchWrite(ctx, st, nil, dedupKeys(del)); err != nil {
			return total, err
		}
		st.found += len(del)
		st.deleted[domain.KindArchivedBody] += len(del)
		total += len(del)
	}
	return total, nil
}

// ForgetArchived deletes every archived body of the account (ignored events of a
// disconnected or unknown account must not stay in the archive either).
func (s *Store) ForgetArchived(ctx context.Context, accountID string) (int, error) {
	return s.PurgeArchive(ctx, accountID, "", nil)
}

// ForgetArchivedMessage deletes the archived bodies of the account that hold mid (an unsent
// message): the bodies listed under gsi1 ARCH#<account>, received at or after sinceMS minus
// a margin (0: all), that mention the contact igsid; a body whose bytes (parts joined) contain
// the mid, as Meta writes it, is deleted whole with its parts and references.
func (s *Store) ForgetArchivedMessage(ctx context.Context, accountID, igsid, mid string, sinceMS int64) (int, error) {
	if mid == "" {
		return 0, nil
	}
	kc := expression.Key("gsi1pk").Equal(expression.Value(archive.AccountIndexKey(accountID)))
	if sinceMS > 0 {
		from := time.UnixMilli(sinceMS).Add(-10 * time.Minute).UnixMilli()
		kc = kc.And(expression.Key("gsi1sk").GreaterThanEqual(expression.Value(fmt.Sprintf("%013d", max(from, 0)))))
	}
	b := expression.NewBuilder().WithKeyCondition(kc).WithProjection(expression.NamesList(
		expression.Name("pk"), expression.Name("sk"), expression.Name("body"), expression.Name("ref_pk"), expression.Name("ref_sk")))
	if igsid != "" {
		b = b.WithFilter(expression.Contains(expression.Name("contacts"), igsid))
	}
	expr, err := b.Build()
	if err != nil {
		return 0, err
	}
	type part struct {
		keys []map[string]types.AttributeValue
		body []byte
	}
	bodies := map[string][]part{} // body pk + base sk → its parts in sk order
	var order []string
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName: aws.String(s.table), IndexName: aws.String(IndexGSI1),
		KeyConditionExpression: expr.KeyCondition(), FilterExpression: expr.Filter(), ProjectionExpression: expr.Projection(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("query archive for an unsent message: %w", err)
		}
		for _, it := range page.Items {
			pk, sk := stringAttr(it, "pk"), stringAttr(it, "sk")
			keys := []map[string]types.AttributeValue{key(pk, sk)}
			var body []byte
			if rp, rs := stringAttr(it, "ref_pk"), stringAttr(it, "ref_sk"); rp != "" {
				// A reference: the body item is listed under its first account.
				var target struct {
					Body []byte `dynamodbav:"body"`
				}
				if err := s.getItem(ctx, key(rp, rs), &target); err != nil && !errors.Is(err, domain.ErrNotFound) {
					return 0, err
				}
				keys = append(keys, key(rp, rs))
				pk, sk, body = rp, rs, target.Body
			} else if v, ok := it["body"].(*types.AttributeValueMemberB); ok {
				body = v.Value
			}
			base := sk
			if i := strings.Count(sk, "#"); i >= 2 {
				base = sk[:strings.LastIndexByte(sk, '#')] // <ms>#<id>#<part>
			}
			id := pk + "\x00" + base
			if _, ok := bodies[id]; !ok {
				order = append(order, id)
			}
			bodies[id] = append(bodies[id], part{keys: keys, body: body})
		}
	}
	escaped := strings.ReplaceAll(mid, "/", `\/`)
	var del []map[string]types.AttributeValue
	for _, id := range order {
		var whole []byte
		for _, pt := range bodies[id] {
			whole = append(whole, pt.body...)
		}
		if (!bytes.Contains(whole, []byte(mid)) && !bytes.Contains(whole, []byte(escaped))) || !holdsMessage(whole, mid) {
			continue
		}
		for _, pt := range bodies[id] {
			del = append(del, pt.keys...)
		}
	}
	if len(del) == 0 {
		return 0, nil
	}
	del = dedupKeys(del)
	if err := s.batchWrite(ctx, newStep(domain.Budget{Items: 1 << 30}), nil, del); err != nil {
		return 0, err
	}
	return len(del), nil
}

// holdsMessage reports whether a webhook body carries the content of mid (a message or an
// edit with that mid that is not itself an unsend), so that the body of the unsend alone is
// kept. A body that does not decode is treated as holding it.
func holdsMessage(body []byte, mid string) bool {
	type item struct {
		Message *struct {
			MID       string `json:"mid"`
			IsDeleted bool   `json:"is_deleted"`
		} `json:"message"`
		Edit *struct {
			MID string `json:"mid"`
		} `json:"message_edit"`
	}
	var b struct {
		Entry []struct {
			Messaging []item `json:"messaging"`
			Standby   []item `json:"standby"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return true
	}
	for _, e := range b.Entry {
		for _, it := range append(e.Messaging, e.Standby...) {
			if it.Message != nil && it.Message.MID == mid && !it.Message.IsDeleted {
				return true
			}
			if it.Edit != nil && it.Edit.MID == mid {
				return true
			}
		}
	}
	return false
}

// purgeChannel deletes the channel item once nothing else of the account was found.
func (s *Store) purgeChannel(ctx context.Context, accountID string, st *stepState) error {
	if st.found > 0 {
		return nil
	}
	st.calls.Add(1)
	out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table), Key: channelKey(accountID), ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return fmt.Errorf("delete channel: %w", err)
	}
	if len(out.Attributes) > 0 {
		st.deleted[domain.KindChannel]++
	}
	return nil
}

// EraseContactStep erases one customer of a channel, in chunks like PurgeAccountStep: the
// messages of the given conversations (each erased mid keeps a content-free tombstone until
// tombstoneUntil, so that a late redelivery stores nothing), their idempotency records, the
// conversations, the pending-send markers, the archived bodies that mention the contact, and
// finally the contact's profile: the contact item is kept with nothing but its conversation
// counter, so that the next message starts a new conversation instead of re-creating an
// erased one.
func (s *Store) EraseContactStep(ctx context.Context, accountID, igsid string, conversationIDs []string, tombstoneUntil time.Time, b domain.Budget) (domain.StepResult, error) {
	st := newStep(b)
	tomb := &domain.MIDRecord{ChannelID: accountID, Deleted: true, Erased: true, TTL: tombstoneUntil.Unix(), Ver: 1}
	if err := s.detachConversations(ctx, st, accountID, igsid); err != nil {
		return st.result(false), fmt.Errorf("erase contact %s/%s: %w", accountID, igsid, err)
	}
	for _, id := range conversationIDs {
		if err := s.purgeConversation(ctx, accountID, id, st, tomb); err != nil {
			return st.result(false), fmt.Errorf("erase contact %s/%s: %w", accountID, igsid, err)
		}
		if st.exhausted() {
			return st.result(false), nil
		}
	}
	if err := s.purgePendingSends(ctx, accountID, igsid, st); err != nil {
		return st.result(false), fmt.Errorf("erase contact %s/%s: %w", accountID, igsid, err)
	}
	if err := s.eraseEarlyReactions(ctx, accountID, igsid, st); err != nil {
		return st.result(false), fmt.Errorf("erase contact %s/%s: %w", accountID, igsid, err)
	}
	if err := s.eraseUnknownEvents(ctx, accountID, igsid, st); err != nil {
		return st.result(false), fmt.Errorf("erase contact %s/%s: %w", accountID, igsid, err)
	}
	if _, err := s.PurgeArchive(ctx, accountID, igsid, st); err != nil {
		return st.result(false), fmt.Errorf("erase contact %s/%s: %w", accountID, igsid, err)
	}
	if st.exhausted() {
		return st.result(false), nil
	}
	if err := s.eraseContactProfile(ctx, st, accountID, igsid, time.Now()); err != nil {
		return st.result(false), fmt.Errorf("erase contact %s/%s: %w", accountID, igsid, err)
	}
	return st.result(st.found == 0), nil
}

// eraseEarlyReactions removes the contact's reactions, and the edits the contact made, kept on
// per-mid records whose message never arrived (gsi1 MIDS#<account>, filtered on the reactor
// or on edited_by).
func (s *Store) eraseEarlyReactions(ctx context.Context, accountID, igsid string, st *stepState) error {
	reactor := expression.Name("reactions").AppendName(expression.Name(igsid))
	if err := s.eraseEarly(ctx, accountID, st, expression.AttributeExists(reactor), expression.Remove(reactor)); err != nil {
		return fmt.Errorf("erase early reactions: %w", err)
	}
	editedBy := expression.Name("edited_by").Equal(expression.Value(igsid))
	if err := s.eraseEarly(ctx, accountID, st, editedBy, expression.Remove(expression.Name("edits")).Remove(expression.Name("edited_by"))); err != nil {
		return fmt.Errorf("erase early edits: %w", err)
	}
	return nil
}

// eraseEarly applies remove (plus a version bump) to the per-mid records without a message
// that match cond.
func (s *Store) eraseEarly(ctx context.Context, accountID string, st *stepState, cond expression.ConditionBuilder, remove expression.UpdateBuilder) error {
	return s.eachGSI1KeyPage(ctx, st, orphanMIDsPK(accountID), cond, "per-mid records", func(items []map[string]types.AttributeValue) error {
		for _, it := range items {
			upd, err := expression.NewBuilder().
				WithUpdate(remove.Add(expression.Name("ver"), expression.Value(1))).
				WithCondition(cond).Build()
			if err != nil {
				return err
			}
			st.calls.Add(1)
			_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: aws.String(s.table), Key: key(stringAttr(it, "pk"), stringAttr(it, "sk")),
				UpdateExpression: upd.Update(), ConditionExpression: upd.Condition(),
				ExpressionAttributeNames: upd.Names(), ExpressionAttributeValues: upd.Values(),
			})
			if isConditionFailed(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("update: %w", err)
			}
			st.found++
			st.deleted[domain.KindMIDTombstones]++
		}
		return nil
	})
}

// eachGSI1KeyPage queries gsi1 partition pk for the keys (pk, sk) of the items matching
// filter and calls fn with each page, while the step's budget lasts; each page counts as a
// call. what names the items in a query error.
func (s *Store) eachGSI1KeyPage(ctx context.Context, st *stepState, pk string, filter expression.ConditionBuilder, what string, fn func([]map[string]types.AttributeValue) error) error {
	expr, err := expression.NewBuilder().
		WithKeyCondition(expression.Key("gsi1pk").Equal(expression.Value(pk))).
		WithFilter(filter).
		WithProjection(expression.NamesList(expression.Name("pk"), expression.Name("sk"))).Build()
	if err != nil {
		return err
	}
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName: aws.String(s.table), IndexName: aws.String(IndexGSI1),
		KeyConditionExpression: expr.KeyCondition(), FilterExpression: expr.Filter(), ProjectionExpression: expr.Projection(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	for p.HasMorePages() && !st.exhausted() {
		st.calls.Add(1)
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("query %s: %w", what, err)
		}
		if err := fn(page.Items); err != nil {
			return err
		}
	}
	return nil
}

// eraseUnknownEvents deletes the unknown events of one contact (gsi1 EVTS#<account>,
// filtered on contact_igsid).
func (s *Store) eraseUnknownEvents(ctx context.Context, accountID, igsid string, st *stepState) error {
	filter := expression.Name("contact_igsid").Equal(expression.Value(igsid))
	return s.eachGSI1KeyPage(ctx, st, unknownEventsPK(accountID), filter, "unknown events", func(items []map[string]types.AttributeValue) error {
		if len(items) == 0 {
			return nil
		}
		if err := s.batchWrite(ctx, st, nil, keysOf(items)); err != nil {
			return err
		}
		st.found += len(items)
		st.deleted[domain.KindUnknownEvent] += len(items)
		return nil
	})
}

// detachConversations drops the contact's pointers to its open and last conversation (and
// the times it mirrors of the last one) before any conversation is deleted, so that a message
// processed between two steps never names a conversation this erasure deleted: it opens
// conversation seq + 1, which the next step erases too. It runs at every step (the pointers
// may name such a new conversation) and writes only when a pointer is set.
func (s *Store) detachConversations(ctx context.Context, st *stepState, accountID, igsid string) error {
	open, last := expression.Name("open_conversation_id"), expression.Name("last_conversation_id")
	upd, err := expression.NewBuilder().
		WithUpdate(expression.Remove(open).Remove(last).
			Remove(expression.Name("conv_last_activity_ms")).Remove(expression.Name("conv_last_incoming_ms")).
			Add(expression.Name("ver"), expression.Value(1))).
		WithCondition(expression.AttributeExists(open).Or(expression.AttributeExists(last))).Build()
	if err != nil {
		return err
	}
	st.calls.Add(1)
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(contactKey(accountID, igsid)),
		UpdateExpression: upd.Update(), ConditionExpression: upd.Condition(),
		ExpressionAttributeNames: upd.Names(), ExpressionAttributeValues: upd.Values(),
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("detach conversations: %w", err)
	}
	return nil
}

// eraseContactProfile replaces the contact with a content-free item (channel, IGSID,
// conversation counter), conditional on its version so that a concurrent event is decided
// again afterwards.
func (s *Store) eraseContactProfile(ctx context.Context, st *stepState, accountID, igsid string, now time.Time) error {
	for attempt := 0; attempt < 5; attempt++ {
		var c domain.Contact
		st.calls.Add(1)
		err := s.getItem(ctx, key(contactKey(accountID, igsid)), &c)
		if errors.Is(err, domain.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if c.Name == "" && c.Username == "" && c.ProfilePic == "" && c.ProfileStatus == "" && c.OpenConversationID == "" &&
			c.LastConversationID == "" && c.Referral == nil && c.ReadWatermarkMS == 0 {
			return nil // already erased
		}
		tx := s.newTxn()
		tx.PutContact(domain.Contact{ChannelID: accountID, IGSID: igsid, ConversationSeq: c.ConversationSeq, CreatedAt: now.UTC(), Ver: c.Ver})
		st.calls.Add(1)
		err = s.commit(ctx, tx)
		if !errors.Is(err, domain.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("erase contact profile: %w", domain.ErrConflict)
}

// queryKeys reads up to limit items of one partition (of the table or an index), projected
// to attrs.
func (s *Store) queryKeys(ctx context.Context, st *stepState, index, keyName, value string, limit int32, attrs ...string) ([]map[string]types.AttributeValue, error) {
	names := make([]expression.NameBuilder, 0, len(attrs))
	for _, a := range attrs {
		names = append(names, expression.Name(a))
	}
	b := expression.NewBuilder().WithKeyCondition(expression.Key(keyName).Equal(expression.Value(value)))
	if len(names) > 0 {
		b = b.WithProjection(expression.NamesList(names[0], names[1:]...))
	}
	expr, err := b.Build()
	if err != nil {
		return nil, err
	}
	in := &dynamodb.QueryInput{
		TableName: aws.String(s.table), KeyConditionExpression: expr.KeyCondition(),
		ProjectionExpression: expr.Projection(), ExpressionAttributeNames: expr.Names(),
		ExpressionAttributeValues: expr.Values(), Limit: aws.Int32(limit),
	}
	if index != "" {
		in.IndexName = aws.String(index)
	} else {
		in.ConsistentRead = aws.Bool(true)
	}
	st.calls.Add(1)
	res, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", value, err)
	}
	return res.Items, nil
}

func (s *Store) queryPrefix(ctx context.Context, st *stepState, pk, skPrefix string, limit int32, attrs ...string) ([]map[string]types.AttributeValue, error) {
	names := make([]expression.NameBuilder, 0, len(attrs))
	for _, a := range attrs {
		names = append(names, expression.Name(a))
	}
	kc := expression.Key("pk").Equal(expression.Value(pk)).And(expression.Key("sk").BeginsWith(skPrefix))
	expr, err := expression.NewBuilder().WithKeyCondition(kc).WithProjection(expression.NamesList(names[0], names[1:]...)).Build()
	if err != nil {
		return nil, err
	}
	st.calls.Add(1)
	res, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(s.table), KeyConditionExpression: expr.KeyCondition(),
		ProjectionExpression: expr.Projection(), ExpressionAttributeNames: expr.Names(),
		ExpressionAttributeValues: expr.Values(), Limit: aws.Int32(limit), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", pk, err)
	}
	return res.Items, nil
}

func keysOf(items []map[string]types.AttributeValue) []map[string]types.AttributeValue {
	out := make([]map[string]types.AttributeValue, 0, len(items))
	for _, it := range items {
		out = append(out, key(stringAttr(it, "pk"), stringAttr(it, "sk")))
	}
	return out
}

func dedupKeys(keys []map[string]types.AttributeValue) []map[string]types.AttributeValue {
	seen := make(map[string]bool, len(keys))
	out := keys[:0]
	for _, k := range keys {
		id := stringAttr(k, "pk") + "\x00" + stringAttr(k, "sk")
		if !seen[id] {
			seen[id] = true
			out = append(out, k)
		}
	}
	return out
}

// batchWriteConcurrency bounds the BatchWriteItem calls of one chunk in flight at once.
const batchWriteConcurrency = 4

// batchWrite puts and deletes items with BatchWriteItem (25 per call, a few calls at a time),
// retrying unprocessed items with back-off. Deleting an absent item is not an error, so a
// chunk can be repeated.
func (s *Store) batchWrite(ctx context.Context, st *stepState, puts, deletes []map[string]types.AttributeValue) error {
	reqs := make([]types.WriteRequest, 0, len(puts)+len(deletes))
	for _, it := range puts {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
	}
	for _, k := range deletes {
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}})
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, batchWriteConcurrency)
	)
	for start := 0; start < len(reqs); start += 25 {
		batch := reqs[start:min(len(reqs), start+25)]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.batchWriteOne(ctx, st, batch); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Store) batchWriteOne(ctx context.Context, st *stepState, batch []types.WriteRequest) error {
	req := map[string][]types.WriteRequest{s.table: batch}
	for attempt := 0; len(req[s.table]) > 0; attempt++ {
		if attempt > 0 {
			if attempt > 8 {
				return errors.New("batch write: unprocessed items after retries")
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 25 * time.Millisecond):
			}
		}
		st.calls.Add(1)
		res, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: req})
		if err != nil {
			return fmt.Errorf("batch write: %w", err)
		}
		req = res.UnprocessedItems
	}
	return nil
}
