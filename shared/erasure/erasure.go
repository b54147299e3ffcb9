// Package erasure deletes data: the purge of everything stored for an account (Meta's
// data-deletion callback, DELETE /api/channels/{id}?purge=true) and the erasure of one
// customer of a channel. Both are started by a command on the events queue and run in bounded
// steps, each step a queue message: a step deletes a chunk (DynamoDB batch writes, never a
// Scan), records its counts on the request's status item and enqueues the next step, so a
// crash or a timeout only repeats a chunk, and running a job twice is harmless.
package erasure

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/inbox"
	"github.com/iginbox/iginbox/shared/metrics"
	"github.com/iginbox/iginbox/shared/processor"
)

// Store is what the jobs need from the table (*store.Store).
type Store interface {
	Disconnect(ctx context.Context, accountID, reason string, at time.Time) (domain.Channel, error)
	PurgeAccountStep(ctx context.Context, accountID string, b domain.Budget) (domain.StepResult, error)
	EraseContactStep(ctx context.Context, accountID, igsid string, conversationIDs []string, tombstoneUntil time.Time, b domain.Budget) (domain.StepResult, error)
	RecordPurgeStep(ctx context.Context, code string, deleted map[string]int, done bool, now time.Time) error
	GetContacts(ctx context.Context, refs []domain.ContactRef) (map[domain.ContactRef]domain.Contact, error)
}

// Publisher enqueues the next step (*queue.Publisher).
type Publisher interface {
	Publish(ctx context.Context, envs []envelope.Envelope) error
}

// Defaults of Config.
const (
	DefaultStepItems = 2000
	DefaultStepTime  = 10 * time.Second
	// DefaultSettle: a purge waits this long after disconnecting the channel before deleting,
	// so that an event read as "connected" just before (the processor's timeout is 30 s) has
	// committed and is deleted too, instead of landing after the purge.
	DefaultSettle = 35 * time.Second
)

// stepMargin is kept free before the invocation's deadline: no chunk starts after it.
const stepMargin = 5 * time.Second

// Config tunes the jobs.
type Config struct {
	StepItems    int           // items deleted per step at most
	StepTime     time.Duration // no new chunk after this long in one step
	Settle       time.Duration // see DefaultSettle; negative = no wait (tests)
	TombstoneTTL time.Duration // how long an erased mid's tombstone lasts (Meta retries for 36 h)
}

func (c Config) withDefaults() Config {
	if c.StepItems <= 0 {
		c.StepItems = DefaultStepItems
	}
	if c.StepTime <= 0 {
		c.StepTime = DefaultStepTime
	}
	if c.Settle == 0 {
		c.Settle = DefaultSettle
	}
	if c.TombstoneTTL <= 0 {
		c.TombstoneTTL = inbox.DefaultTombstoneTTL
	}
	return c
}

// Service runs purge and contact-erasure steps in the processor.
type Service struct {
	store Store
	pub   Publisher
	cfg   Config
	log   *slog.Logger
	emf   *metrics.Writer
	now   func() time.Time
}

// New returns a Service; emf receives the metric lines (nil: none).
func New(st Store, pub Publisher, cfg Config, log *slog.Logger, emf *metrics.Writer) *Service {
	return &Service{store: st, pub: pub, cfg: cfg.withDefaults(), log: log, emf: emf, now: time.Now}
}

// Router sends erasure commands to the Service, unsubscriptions to the Unsubscriber and
// everything else to Next.
type Router struct {
	Erasure      *Service
	Unsubscriber *Unsubscriber
	Next         processor.Service
}

// Handle implements processor.Service.
func (r Router) Handle(ctx context.Context, env envelope.Envelope) error {
	switch env.Kind {
	case envelope.KindPurge, envelope.KindEraseContact:
		return r.Erasure.Handle(ctx, env)
	case envelope.KindUnsubscribe:
		return r.Unsubscriber.Handle(ctx, env)
	}
	return r.Next.Handle(ctx, env)
}

var errSettling = errors.New("waiting for in-flight events of the disconnected channel")

// Handle runs one step of a purge or an erasure.
func (s *Service) Handle(ctx context.Context, env envelope.Envelope) error {
	job, err := env.Job()
	if err != nil {
		return err
	}
	ctx = metrics.WithLabel(ctx, string(env.Kind))
	now := s.now()
	budget := domain.Budget{Items: s.cfg.StepItems, Deadline: now.Add(s.cfg.StepTime)}
	if dl, ok := ctx.Deadline(); ok && dl.Add(-stepMargin).Before(budget.Deadline) {
		budget.Deadline = dl.Add(-stepMargin) // leave time to enqueue the next step and record this one
	}
	var res domain.StepResult
	step := job.Step
	calls := 0 // DynamoDB requests made here, besides the step's own
	switch env.Kind {
	case envelope.KindPurge:
		if job.Step == 0 {
			calls++
			_, err := s.store.Disconnect(ctx, env.AccountID, domain.DisconnectDataDeletion, now)
			found := err == nil
			if err != nil && !errors.Is(err, domain.ErrNotFound) {
				return err
			}
			if wait := time.UnixMilli(job.RequestedMS).Add(s.cfg.Settle).Sub(now); found && s.cfg.Settle > 0 && wait > 0 {
				return processor.Defer(errSettling, wait)
			}
		}
		res, err = s.store.PurgeAccountStep(ctx, env.AccountID, budget)
	case envelope.KindEraseContact:
		var ids []string
		calls++
		ids, err = s.conversationIDs(ctx, env.AccountID, env.ContactID)
		if err == nil {
			until := time.UnixMilli(job.RequestedMS).Add(s.cfg.TombstoneTTL)
			res, err = s.store.EraseContactStep(ctx, env.AccountID, env.ContactID, ids, until, budget)
		}
	default:
		return fmt.Errorf("erasure: unexpected %s envelope", env.Kind)
	}
	if err != nil {
		return err
	}
	if !res.Done {
		job.Step++
		next, err := nextEnvelope(env, job)
		if err != nil {
			return err
		}
		if err := s.pub.Publish(ctx, []envelope.Envelope{next}); err != nil {
			return fmt.Errorf("enqueue %s step %d: %w", env.Kind, job.Step, err)
		}
	}
	if err := s.store.RecordPurgeStep(ctx, job.Code, res.Deleted, res.Done, s.now()); err != nil {
		return err
	}
	if job.Code != "" {
		calls += 2
	}
	s.log.InfoContext(ctx, "erasure step", "kind", env.Kind, "account_id", env.AccountID, "step", step,
		"deleted", res.Deleted, "done", res.Done, "ddb_calls", res.Calls+calls)
	if res.Done {
		_ = s.emf.Emit(metrics.Line{
			Time:       s.now(),
			Dimensions: []metrics.Dimension{{Name: "Kind", Value: string(env.Kind)}},
			Metrics:    []metrics.Metric{{Name: "ErasuresCompleted", Value: 1}},
			Properties: map[string]any{"account_id": env.AccountID, "steps": step + 1},
		})
	}
	return nil
}

func nextEnvelope(env envelope.Envelope, job envelope.Job) (envelope.Envelope, error) {
	if env.Kind == envelope.KindPurge {
		return envelope.NewPurge(env.AccountID, job)
	}
	return envelope.NewEraseContact(env.AccountID, env.ContactID, job)
}

// conversationIDs lists the ids of every conversation the contact had: conversation ids are
// derived from (account, contact, n) for n = 1..conversation_seq.
func (s *Service) conversationIDs(ctx context.Context, accountID, igsid string) ([]string, error) {
	ref := domain.ContactRef{ChannelID: accountID, IGSID: igsid}
	m, err := s.store.GetContacts(ctx, []domain.ContactRef{ref})
	if err != nil {
		return nil, err
	}
	c, ok := m[ref]
	if !ok {
		return nil, nil
	}
	ids := make([]string, 0, c.ConversationSeq)
	for n := 1; n <= c.ConversationSeq; n++ {
		ids = append(ids, inbox.ConversationID(accountID, igsid, n))
	}
	return ids, nil
}

// Starter starts jobs (API, Meta's callbacks).
type Starter struct {
	Store interface {
		CreateDeletionRequest(ctx context.Context, code, source string, now time.Time) error
	}
	Pub Publisher
	Now func() time.Time
}

// NewCode returns an unguessable confirmation code (128 random bits, hex).
func NewCode() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("confirmation code: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// ValidCode reports whether s has the shape of a confirmation code.
func ValidCode(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func (st Starter) now() time.Time {
	if st.Now != nil {
		return st.Now()
	}
	return time.Now()
}

// StartPurge records a pending deletion request and enqueues the purge's first step; it
// returns the confirmation code. source names who asked ("data_deletion", "api").
func (st Starter) StartPurge(ctx context.Context, accountID, source string) (string, error) {
	code, err := NewCode()
	if err != nil {
		return "", err
	}
	now := st.now()
	if err := st.Store.CreateDeletionRequest(ctx, code, source, now); err != nil {
		return "", err
	}
	env, err := envelope.NewPurge(accountID, envelope.Job{Code: code, RequestedMS: now.UnixMilli()})
	if err != nil {
		return "", err
	}
	if err := st.Pub.Publish(ctx, []envelope.Envelope{env}); err != nil {
		return "", fmt.Errorf("enqueue purge: %w", err)
	}
	return code, nil
}

// StartUnsubscribe enqueues the webhook unsubscription of a disconnected account (in its
// purge group: a purge started after it runs after it).
func (st Starter) StartUnsubscribe(ctx context.Context, accountID string) error {
	env, err := envelope.NewUnsubscribe(accountID, st.now().UnixMilli())
	if err != nil {
		return err
	}
	if err := st.Pub.Publish(ctx, []envelope.Envelope{env}); err != nil {
		return fmt.Errorf("enqueue unsubscribe: %w", err)
	}
	return nil
}

// StartContactErasure enqueues the erasure of one customer of a channel.
func (st Starter) StartContactErasure(ctx context.Context, accountID, igsid string) error {
	env, err := envelope.NewEraseContact(accountID, igsid, envelope.Job{RequestedMS: st.now().UnixMilli()})
	if err != nil {
		return err
	}
	if err := st.Pub.Publish(ctx, []envelope.Envelope{env}); err != nil {
		return fmt.Errorf("enqueue contact erasure: %w", err)
	}
	return nil
}

// StatusPath is the public path of a deletion request's status page.
func StatusPath(code string) string { return "/instagram/data-deletion/" + code }
