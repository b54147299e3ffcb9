package erasure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/graph"
)

// UnsubscribeStore is what the unsubscription needs from the table (*store.Store).
type UnsubscribeStore interface {
	GetChannel(ctx context.Context, accountID string) (domain.Channel, error)
	GetChannelToken(ctx context.Context, accountID string) (string, error)
	FinishUnsubscribe(ctx context.Context, accountID, token string, at time.Time, unsubscribeErr string) error
}

// Meta removes an account's webhook subscription on Meta (*graph.Client).
type Meta interface {
	Unsubscribe(ctx context.Context, token string) error
}

// NoTokenError is recorded when a disconnected channel has no token left to unsubscribe with.
const NoTokenError = "not unsubscribed: no access token stored"

// Unsubscriber runs KindUnsubscribe commands in the processor: while the channel is still
// disconnected, it removes the account's webhook subscription on Meta with the stored token,
// then deletes the token and records the outcome on the channel (unsubscribed_at or
// unsubscribe_error). Transient Graph errors are returned (the message is retried); any other
// answer (a dead token too) is recorded and the token deleted. Idempotent.
type Unsubscriber struct {
	store UnsubscribeStore
	meta  Meta
	log   *slog.Logger
	now   func() time.Time
}

// NewUnsubscriber returns an Unsubscriber.
func NewUnsubscriber(st UnsubscribeStore, meta Meta, log *slog.Logger) *Unsubscriber {
	return &Unsubscriber{store: st, meta: meta, log: log, now: time.Now}
}

// Handle runs one unsubscription.
func (u *Unsubscriber) Handle(ctx context.Context, env envelope.Envelope) error {
	if env.Kind != envelope.KindUnsubscribe {
		return fmt.Errorf("erasure: unexpected %s envelope for the unsubscriber", env.Kind)
	}
	if _, err := env.Job(); err != nil {
		return err
	}
	id := env.AccountID
	ch, err := u.store.GetChannel(ctx, id)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		u.log.InfoContext(ctx, "unsubscribe skipped", "account_id", id, "why", "channel gone")
		return nil
	case err != nil:
		return err
	case !ch.Disconnected():
		u.log.InfoContext(ctx, "unsubscribe skipped", "account_id", id, "why", "connected again")
		return nil
	case !ch.UnsubscribedAt.IsZero():
		return nil // done before
	}
	token, err := u.store.GetChannelToken(ctx, id)
	if errors.Is(err, domain.ErrNotFound) {
		if ch.UnsubscribeError != "" {
			return nil // the outcome is recorded already
		}
		return u.finish(ctx, id, "", NoTokenError)
	}
	if err != nil {
		return err
	}
	outcome := ""
	if err := u.meta.Unsubscribe(ctx, token); err != nil {
		if graph.IsTransient(err) {
			return fmt.Errorf("unsubscribe %s: %w", id, err)
		}
		outcome = err.Error() // Meta's answer; never holds the token
	}
	return u.finish(ctx, id, token, outcome)
}

func (u *Unsubscriber) finish(ctx context.Context, id, token, outcome string) error {
	err := u.store.FinishUnsubscribe(ctx, id, token, u.now(), outcome)
	if errors.Is(err, domain.ErrConflict) {
		// Connected again meanwhile: its fresh token and outcome fields stay.
		u.log.InfoContext(ctx, "unsubscribe outcome not recorded", "account_id", id, "why", "connected again")
		return nil
	}
	if err != nil {
		return err
	}
	if outcome != "" {
		u.log.WarnContext(ctx, "webhook unsubscription failed", "account_id", id, "error", outcome)
	} else {
		u.log.InfoContext(ctx, "webhook unsubscribed", "account_id", id)
	}
	return nil
}
