// Package inbox turns queued Instagram webhook events into conversation state: contacts,
// conversations and messages, deduplicated per mid forever and converged whatever the
// delivery order. One handler per event kind. A message from a contact whose open
// conversation the service remembers is one conditional transaction written without a read
// (fastpath.go); any other event reads what it needs in one round trip and writes in one
// conditional transaction. Either way a lost race or a duplicate delivery is detected by
// DynamoDB's conditions, never by read-then-write.
package inbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/metrics"
	"github.com/iginbox/iginbox/shared/processor"
)

// Store is the conversation-state storage the service needs (*store.Store).
type Store interface {
	LoadEventState(ctx context.Context, accountID, igsid, mid string) (domain.EventState, error)
	Commit(ctx context.Context, tx *domain.Tx) error
	AdvanceReadWatermark(ctx context.Context, accountID, igsid string, ts int64) error
	GetMessage(ctx context.Context, conversationID, messageSK string) (domain.Message, error)
	PutUnknownEvent(ctx context.Context, id string, e domain.UnknownEvent) error
	// AppendToOpenConversation writes a message into the contact's open conversation without
	// a read, or returns ErrConflict (see fastpath.go); seen is the conversation as a refusal
	// returned it (nil: none).
	AppendToOpenConversation(ctx context.Context, m domain.Message, seen *domain.Conversation) error
}

// Channels flags a channel whose token died (*store.Store).
type Channels interface {
	FlagReauth(ctx context.Context, accountID, reason string, at time.Time) error
}

// Profiles reads contact profiles (*graph.Client).
type Profiles interface {
	GetProfile(ctx context.Context, accessToken, igsid string) (graph.Profile, error)
}

// EchoReconciler attaches the echo of one of our own sends whose outcome was unknown to its
// pending part instead of storing a new message (*outbound.Sender). It reports whether it did.
type EchoReconciler interface {
	ReconcileEcho(ctx context.Context, st domain.EventState, echo domain.Message) (bool, error)
}

var (
	_ Profiles = (*graph.Client)(nil)
)

// Defaults of Config.
const (
	DefaultProfileMaxAge = 168 * time.Hour
	DefaultTombstoneTTL  = 7 * 24 * time.Hour
	// maxAttempts bounds the re-read/re-decide loop after a lost condition.
	maxAttempts = 5
)

// Config tunes the service.
type Config struct {
	// ProfileMaxAge: a stored profile older than this is refreshed on the next message.
	ProfileMaxAge time.Duration
	// MaxReceiveCount is the queue's maxReceiveCount: the delivery with this receive count is
	// the last one, so a transient profile failure then stores a minimal contact instead.
	MaxReceiveCount int
	// TombstoneTTL: how long an unsend or reaction whose message never arrived is kept.
	TombstoneTTL time.Duration
}

func (c Config) withDefaults() Config {
	if c.ProfileMaxAge <= 0 {
		c.ProfileMaxAge = DefaultProfileMaxAge
	}
	if c.MaxReceiveCount <= 0 {
		c.MaxReceiveCount = processor.DefaultMaxReceiveCount
	}
	if c.TombstoneTTL <= 0 {
		c.TombstoneTTL = DefaultTombstoneTTL
	}
	return c
}

// Service handles envelopes; it implements processor.Service.
type Service struct {
	store    Store
	channels Channels
	profiles Profiles
	cfg      Config
	log      *slog.Logger
	now      func() time.Time

	emf *metrics.Writer

	echoes  EchoReconciler   // optional
	archive ArchiveForgetter // optional

	open openCache // contacts' open conversations, for writing without a read
}

// ArchiveForgetter drops archived webhook bodies (*store.Store): every body of an account, or
// the bodies of one contact that hold one mid.
type ArchiveForgetter interface {
	ForgetArchived(ctx context.Context, accountID string) (int, error)
	ForgetArchivedMessage(ctx context.Context, accountID, igsid, mid string, sinceMS int64) (int, error)
}

// scrubArchive drops the archived bodies that hold an unsent message (best effort: a failure
// is logged; the bodies expire with the archive's retention anyway).
func (s *Service) scrubArchive(ctx context.Context, env envelope.Envelope, mid string, sinceMS int64) {
	if s.archive == nil {
		return
	}
	n, err := s.archive.ForgetArchivedMessage(ctx, env.AccountID, env.ContactID, mid, sinceMS)
	if err != nil {
		s.log.WarnContext(ctx, "dropping the archived body of an unsent message failed", "account_id", env.AccountID, "error", err.Error())
		return
	}
	if n > 0 {
		s.log.InfoContext(ctx, "archived body of an unsent message dropped", "account_id", env.AccountID, "items", n)
	}
}

// WithArchiveForgetter drops the archived bodies of accounts whose events are ignored (no
// channel, or a disconnected one), so that the archive keeps nothing of them either.
func WithArchiveForgetter(a ArchiveForgetter) Option { return func(s *Service) { s.archive = a } }

var _ processor.Service = (*Service)(nil)

// Option customises a Service.
type Option func(*Service)

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithEchoReconciler lets echoes be matched with sends whose outcome was unknown.
func WithEchoReconciler(r EchoReconciler) Option { return func(s *Service) { s.echoes = r } }

// WithMetrics sets the writer of the service's metrics (default: none).
func WithMetrics(w *metrics.Writer) Option { return func(s *Service) { s.emf = w } }

// New returns a Service.
func New(st Store, channels Channels, profiles Profiles, cfg Config, log *slog.Logger, opts ...Option) *Service {
	s := &Service{store: st, channels: channels, profiles: profiles, cfg: cfg.withDefaults(), log: log, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Outcomes logged per event.
const (
	outcomeStored    = "stored"
	outcomeDuplicate = "duplicate"
	outcomeUpdated   = "updated"
	outcomeUnchanged = "unchanged"
	outcomeIgnored   = "ignored"
	outcomeKept      = "kept_unknown"
	outcomeEchoSend  = "reconciled_with_send"
)

// Handle applies one envelope. An error means "retry later" (the queue redelivers it).
func (s *Service) Handle(ctx context.Context, env envelope.Envelope) error {
	label := string(env.Kind)
	var it item
	if env.Kind != envelope.KindChange && env.Kind != envelope.KindUnknown {
		var err error
		if it, err = parseItem(env.Raw); err != nil {
			// A shape we cannot decode will not decode on retry either: keep it, never drop it.
			s.log.WarnContext(ctx, "undecodable webhook item kept", "kind", env.Kind, "account_id", env.AccountID, "error", err.Error())
			env.Kind = envelope.KindUnknown
		}
	}
	if it.Message != nil && it.Message.IsDeleted {
		label = "unsend"
	}
	ctx = metrics.WithLabel(ctx, label)
	var (
		outcome string
		err     error
	)
	for attempt := 1; ; attempt++ {
		outcome, err = s.dispatch(ctx, env, it)
		if !errors.Is(err, domain.ErrConflict) || attempt == maxAttempts {
			break
		}
		s.log.DebugContext(ctx, "lost a conditional write, deciding again", "kind", env.Kind, "attempt", attempt)
		// Within a FIFO message group this only happens against an API write; back off a
		// little (with jitter) before re-reading.
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s event %s: %w", env.Kind, env.GroupID(), ctx.Err())
		case <-time.After(time.Duration(attempt*attempt)*5*time.Millisecond + time.Duration(rand.Int64N(int64(10*time.Millisecond)))):
		}
	}
	if err != nil {
		return fmt.Errorf("%s event %s: %w", env.Kind, env.GroupID(), err)
	}
	s.log.InfoContext(ctx, "event handled", "kind", label, "account_id", env.AccountID, "group", env.GroupID(),
		"timestamp", env.Timestamp, "outcome", outcome, "receive_count", processor.ReceiveCount(ctx))
	return nil
}

func (s *Service) dispatch(ctx context.Context, env envelope.Envelope, it item) (string, error) {
	switch env.Kind {
	case envelope.KindChange:
		s.log.InfoContext(ctx, "change event (dashboard test) acknowledged", "account_id", env.AccountID)
		return outcomeIgnored, nil
	case envelope.KindMessage, envelope.KindEcho:
		if it.Message == nil || it.Message.MID == "" {
			return s.keepUnknown(ctx, env)
		}
		if it.Message.IsDeleted {
			return s.unsend(ctx, env, string(it.Message.MID))
		}
		return s.storeMessage(ctx, env, it)
	case envelope.KindPostback:
		if it.Postback == nil || it.Postback.MID == "" {
			return s.keepUnknown(ctx, env)
		}
		return s.storeMessage(ctx, env, it)
	case envelope.KindReaction:
		if it.Reaction == nil || it.Reaction.MID == "" {
			return s.keepUnknown(ctx, env)
		}
		return s.react(ctx, env, it)
	case envelope.KindRead:
		return s.read(ctx, env)
	case envelope.KindEdit:
		if it.Edit == nil || it.Edit.MID == "" {
			return s.keepUnknown(ctx, env)
		}
		return s.edit(ctx, env, it)
	case envelope.KindReferral:
		if len(it.Referral) == 0 {
			return s.keepUnknown(ctx, env)
		}
		return s.referral(ctx, env, it)
	default:
		return s.keepUnknown(ctx, env)
	}
}

// inactiveAccount logs and counts an event for an account with no channel
// (UnknownAccountEvents) or a disconnected one (DisconnectedAccountEvents): nothing of it is
// stored, and, when an ArchiveForgetter is set, the account's archived bodies are dropped.
func (s *Service) inactiveAccount(ctx context.Context, env envelope.Envelope, st domain.EventState) (string, error) {
	metric, msg := "UnknownAccountEvents", "event for an account with no connected channel ignored"
	if st.ChannelFound {
		metric, msg = "DisconnectedAccountEvents", "event for a disconnected channel ignored"
	}
	s.log.WarnContext(ctx, msg, "account_id", env.AccountID, "kind", env.Kind)
	s.emitMetric(metric, env)
	if s.archive != nil {
		if n, err := s.archive.ForgetArchived(ctx, env.AccountID); err != nil {
			s.log.WarnContext(ctx, "dropping archived bodies of an inactive account failed", "account_id", env.AccountID, "error", err.Error())
		} else if n > 0 {
			s.log.InfoContext(ctx, "archived bodies of an inactive account dropped", "account_id", env.AccountID, "items", n)
		}
	}
	return outcomeIgnored, nil
}

// emitMetric counts one event by its kind (dimension Kind).
func (s *Service) emitMetric(name string, env envelope.Envelope) {
	_ = s.emf.Emit(metrics.Line{
		Time:       s.now(),
		Dimensions: []metrics.Dimension{{Name: "Kind", Value: string(env.Kind)}},
		Metrics:    []metrics.Metric{{Name: name, Value: 1}},
		Properties: map[string]any{"account_id": env.AccountID},
	})
}

// emitReauthMetric counts a channel this function flagged for re-authorization, as the
// refresher counts its own (ChannelsReauthAlarm sums both).
func (s *Service) emitReauthMetric(accountID string) {
	_ = s.emf.Emit(metrics.Line{
		Time:       s.now(),
		Metrics:    []metrics.Metric{{Name: metrics.ChannelsFlaggedForReauth, Value: 1}},
		Properties: map[string]any{"account_id": accountID, "source": "profile"},
	})
}

// keepUnknown stores an event of a shape we do not know, so that nothing is lost (unless its
// account has no connected channel).
func (s *Service) keepUnknown(ctx context.Context, env envelope.Envelope) (string, error) {
	st, err := s.store.LoadEventState(ctx, env.AccountID, "", "")
	if err != nil {
		return "", err
	}
	if !st.Active() {
		return s.inactiveAccount(ctx, env, st)
	}
	id := envelope.DedupID(env.Key)[:32]
	err = s.store.PutUnknownEvent(ctx, id, domain.UnknownEvent{
		ChannelID: env.AccountID, ContactID: env.ContactID, Key: env.Key, TimestampMS: env.Timestamp,
		Raw: string(env.Raw),
	})
	if err != nil {
		return "", err
	}
	s.log.WarnContext(ctx, "event of an unknown shape kept", "kind", env.Kind, "account_id", env.AccountID, "id", id)
	s.emitMetric("UnknownEvents", env)
	return outcomeKept, nil
}

// ConversationID is the id of a contact's n-th conversation (domain.ConversationID).
func ConversationID(accountID, igsid string, n int) string {
	return domain.ConversationID(accountID, igsid, n)
}

// MessageID is the API id of the message of a webhook mid.
func MessageID(accountID, mid string) string { return domain.HashID("message", accountID, mid) }
