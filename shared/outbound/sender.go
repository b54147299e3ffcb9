package outbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/metrics"
	"github.com/iginbox/iginbox/shared/processor"
)

// Store is the storage the sender needs (*store.Store).
type Store interface {
	LoadSendState(ctx context.Context, accountID, igsid, conversationID, messageSK string) (domain.SendState, error)
	LoadSentState(ctx context.Context, accountID, igsid, conversationID, mid string) (domain.SentState, error)
	GetConversations(ctx context.Context, ids []string) ([]domain.Conversation, error)
	BeginAttempt(ctx context.Context, p domain.OutgoingPart, nowMS int64) error
	PendingSends(ctx context.Context, accountID, igsid string) ([]domain.PendingSend, error)
	Commit(ctx context.Context, tx *domain.Tx) error
}

// Channels flags a channel whose token died (*store.Store).
type Channels interface {
	FlagReauth(ctx context.Context, accountID, reason string, at time.Time) error
}

// Messenger sends Instagram messages (*graph.Client).
type Messenger interface {
	SendMessage(ctx context.Context, accessToken string, req graph.SendRequest) (graph.SendResult, error)
}

// Publisher enqueues commands in the events FIFO queue (*queue.Publisher).
type Publisher interface {
	Publish(ctx context.Context, envs []envelope.Envelope) error
}

var (
	_ Messenger = (*graph.Client)(nil)
)

// Defaults of Config.
const (
	// DefaultGrace is how long a send whose outcome is unknown waits for its echo: Meta
	// usually delivers an echo within seconds, but its webhook deliveries can lag by minutes
	// when Meta is degraded (the same incidents that cause unknown outcomes), and a duplicate
	// reply cannot be taken back while a late one only costs time.
	DefaultGrace     = 15 * time.Minute
	DefaultRetryBase = 10 * time.Second
	DefaultRetryMax  = 5 * time.Minute
	// DefaultMaxUnknownAttempts bounds the attempts of one part whose outcome stayed unknown.
	DefaultMaxUnknownAttempts = 3
)

// Config tunes the sender.
type Config struct {
	// HumanAgent enables HUMAN_AGENT replies from 24 h to 7 days (HUMAN_AGENT_ENABLED).
	HumanAgent bool
	// Grace is how long an attempt with an unknown outcome waits for its echo before the part
	// is sent again (SEND_ECHO_GRACE).
	Grace time.Duration
	// RetryBase and RetryMax bound the exponential back-off of transient failures.
	RetryBase, RetryMax time.Duration
	// MaxReceiveCount is the queue's maxReceiveCount: on the last delivery a transient
	// failure marks the part failed instead of leaving it queued forever.
	MaxReceiveCount int
	// MaxUnknownAttempts bounds the attempts whose outcome stayed unknown (no echo within
	// Grace each): after that many the part is failed instead of sent again.
	MaxUnknownAttempts int
}

func (c Config) withDefaults() Config {
	if c.Grace <= 0 {
		c.Grace = DefaultGrace
	}
	if c.RetryBase <= 0 {
		c.RetryBase = DefaultRetryBase
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	if c.MaxReceiveCount <= 0 {
		c.MaxReceiveCount = processor.DefaultMaxReceiveCount
	}
	if c.MaxUnknownAttempts <= 0 {
		c.MaxUnknownAttempts = DefaultMaxUnknownAttempts
	}
	return c
}

// Sender handles send commands and send checks (processor side).
type Sender struct {
	store    Store
	channels Channels
	meta     Messenger
	pub      Publisher
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	emf      *metrics.Writer
}

// Option customises a Sender.
type Option func(*Sender)

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(s *Sender) { s.now = now } }

// WithMetrics sets the writer of the sender's metrics (default: none).
func WithMetrics(w *metrics.Writer) Option { return func(s *Sender) { s.emf = w } }

// NewSender returns a Sender.
func NewSender(st Store, channels Channels, meta Messenger, pub Publisher, cfg Config, log *slog.Logger, opts ...Option) *Sender {
	s := &Sender{store: st, channels: channels, meta: meta, pub: pub, cfg: cfg.withDefaults(), log: log, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Outcomes logged per command.
const (
	outcomeSent       = "sent"
	outcomeFailed     = "failed"
	outcomeUnknown    = "unknown_outcome"
	outcomeRetry      = "retry"
	outcomeNoop       = "noop"
	outcomeResent     = "resend_enqueued"
	outcomeWaiting    = "waiting_for_echo"
	outcomeReconciled = "reconciled"
)

const maxDecisions = 4

// Handle handles a KindSend or KindSendCheck envelope.
func (s *Sender) Handle(ctx context.Context, env envelope.Envelope) error {
	cmd, err := env.Command()
	if err != nil {
		return err
	}
	ctx = metrics.WithLabel(ctx, string(env.Kind))
	var outcome string
	for attempt := 1; ; attempt++ {
		if env.Kind == envelope.KindSendCheck {
			outcome, err = s.check(ctx, env, cmd)
		} else {
			outcome, err = s.send(ctx, env, cmd)
		}
		if !errors.Is(err, domain.ErrConflict) || attempt == maxDecisions {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", env.Kind, cmd.MessageID, err)
	}
	s.log.InfoContext(ctx, "command handled", "kind", env.Kind, "account_id", env.AccountID, "message_id", cmd.MessageID,
		"attempt", cmd.Attempt, "outcome", outcome, "receive_count", processor.ReceiveCount(ctx))
	return nil
}

func (s *Sender) send(ctx context.Context, env envelope.Envelope, cmd envelope.SendCommand) (string, error) {
	st, err := s.store.LoadSendState(ctx, env.AccountID, env.ContactID, cmd.ConversationID, cmd.MessageSK)
	if err != nil {
		return "", err
	}
	if !st.PartFound {
		// A sent part has moved to the key of its send time (domain.SentSK): this is a
		// duplicate command of a part already sent.
		s.log.InfoContext(ctx, "send command for a part no longer queued under its key (sent)", "message_id", cmd.MessageID)
		return outcomeNoop, nil
	}
	p := st.Part
	if p.Status != domain.MessageQueued {
		return outcomeNoop, nil // sent, failed, or reconciled with its echo: never twice
	}
	if p.SendPending {
		// An earlier delivery made attempt p.SendAttempt and did not record its outcome
		// (timeout, crash): Meta may have accepted it. Wait for its echo instead of re-sending.
		return s.unknown(ctx, env, p)
	}
	if !st.ChannelFound {
		return s.fail(ctx, p, domain.SendError{Code: 0, Message: "not sent: the channel is not connected"})
	}
	if st.Channel.ReauthRequired || st.Channel.AccessToken == "" {
		return s.fail(ctx, p, domain.SendError{Code: 190, Message: "not sent: the channel must be re-authorized"})
	}
	now := s.now()
	lastIncoming, err := ContactLastIncomingMS(ctx, s.store, st.Conversation, st.Contact, now)
	if err != nil {
		return "", err
	}
	win, err := Decide(lastIncoming, now, s.cfg.HumanAgent)
	if err != nil {
		return s.fail(ctx, p, WindowError(err))
	}
	if err := s.store.BeginAttempt(ctx, p, now.UnixMilli()); err != nil {
		return "", err
	}
	p.SendAttempt++
	p.SendPending = true
	p.AttemptMS = now.UnixMilli()
	req := graph.SendRequest{RecipientIGSID: p.ContactIGSID, MessagingType: win.MessagingType, Tag: win.Tag}
	if len(p.Attachments) > 0 {
		req.AttachmentType, req.AttachmentURL = p.Attachments[0].Type, p.Attachments[0].URL
	} else {
		req.Text = p.Text
	}
	res, err := s.meta.SendMessage(ctx, st.Channel.AccessToken, req)
	switch {
	case err == nil:
		return s.sent(ctx, p, res.MessageID, s.now().UnixMilli(), domain.SentState{
			Contact: st.Contact, Conversation: st.Conversation, ConversationFound: st.ConversationFound,
			MID: domain.MIDRecord{ChannelID: p.ChannelID, MID: res.MessageID},
		})
	case graph.IsOutcomeUnknown(err):
		// Meta may have accepted it (a timeout, a 5xx or code 1/2 after acceptance, a 2xx we
		// cannot read): re-sending now could deliver it twice. Wait for its echo.
		s.log.WarnContext(ctx, "send outcome unknown; waiting for its echo", "message_id", p.ID, "attempt", p.SendAttempt, "error", err.Error())
		return s.unknown(ctx, env, p)
	case graph.IsTokenDead(err):
		s.log.WarnContext(ctx, "access token dead while sending: channel flagged for re-authorization", "account_id", p.ChannelID, "error", err.Error())
		if ferr := s.channels.FlagReauth(ctx, p.ChannelID, "send: "+err.Error(), s.now().UTC()); ferr != nil {
			s.log.ErrorContext(ctx, "could not flag channel for re-authorization", "account_id", p.ChannelID, "error", ferr.Error())
		} else {
			// Counted like the refresher's flags (template.yaml, ChannelsReauthAlarm).
			_ = s.emf.Emit(metrics.Line{
				Time:       s.now(),
				Metrics:    []metrics.Metric{{Name: metrics.ChannelsFlaggedForReauth, Value: 1}},
				Properties: map[string]any{"account_id": p.ChannelID, "source": "send"},
			})
		}
		return s.fail(ctx, p, metaError(err))
	case graph.IsRateLimited(err):
		// A definite refusal: nothing was sent, send again after a back-off.
		if processor.ReceiveCount(ctx) >= s.cfg.MaxReceiveCount {
			s.log.WarnContext(ctx, "send failed on the last delivery", "message_id", p.ID, "error", err.Error())
			return s.fail(ctx, p, metaError(err))
		}
		tx := new(domain.Tx)
		tx.ReleaseAttempt(p.ConversationID, p.SK(), p.SendAttempt)
		if cerr := s.store.Commit(ctx, tx); cerr != nil {
			return "", fmt.Errorf("release attempt after %v: %w", err, cerr)
		}
		return outcomeRetry, processor.RetryAfter(err, s.backoff(processor.ReceiveCount(ctx)))
	default:
		return s.fail(ctx, p, metaError(err))
	}
}

func metaError(err error) domain.SendError {
	ge, ok := graph.AsError(err)
	if !ok {
		return domain.SendError{Message: "send failed"}
	}
	return domain.SendError{Code: ge.Code, Subcode: ge.Subcode, Message: ge.Message}
}

func (s *Sender) backoff(receiveCount int) time.Duration {
	d := s.cfg.RetryBase
	for i := 1; i < receiveCount && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.RetryMax)
}

// sentAttempts bounds the re-read/re-write loop of a sent part; the last try records the
// send without moving the conversation's activity, so that bookkeeping can never keep a
// message Meta accepted from being recorded.
const sentAttempts = 4

// sent records the mid of the current attempt (moving the part to the key of its send time,
// domain.SentSK, so that it lists by when it was sent), the per-mid record and the
// conversation's activity in one transaction. st is the state read before the attempt (its per-mid record
// assumed absent); a lost condition re-reads it: the per-mid record may exist already (a
// reaction or unsend of this mid came first), or the contact moved (an API status change).
func (s *Sender) sent(ctx context.Context, p domain.OutgoingPart, mid string, ts int64, st domain.SentState) (string, error) {
	for i := 0; ; i++ {
		tx := new(domain.Tx)
		sentSK := tx.MarkSent(p, p.SendAttempt, mid, ts)
		rec := st.MID
		rec.ConversationID, rec.MessageSK, rec.TTL = p.ConversationID, sentSK, 0
		tx.PutMID(rec)
		if i < sentAttempts-1 {
			moveActivity(tx, st, ts)
		}
		err := s.store.Commit(ctx, tx)
		if err == nil {
			return outcomeSent, nil
		}
		if !errors.Is(err, domain.ErrConflict) || i == sentAttempts-1 {
			return "", fmt.Errorf("record sent mid: %w", err)
		}
		var lerr error
		if st, lerr = s.store.LoadSentState(ctx, p.ChannelID, p.ContactIGSID, p.ConversationID, mid); lerr != nil {
			return "", lerr
		}
		if st.MID.Stored() {
			if st.MID.ConversationID == p.ConversationID && st.MID.MessageSK == domain.SentSK(ts, mid) {
				return outcomeSent, nil // an earlier commit of this very write went through
			}
			s.log.ErrorContext(ctx, "mid already stored for another message", "message_id", p.ID)
			return outcomeNoop, nil
		}
	}
}

// moveActivity adds to tx what a part that became sent at ts does to its conversation's
// activity, like a message stored by the inbox: the conversation's last activity moves
// forward to ts (never back: the write is conditional on it being older), and when the
// conversation is the contact's last one, the contact's mirror moves with it (a Put at the
// version read, as the inbox writes it). last_incoming_ms is never touched; a resolved
// conversation stays resolved.
func moveActivity(tx *domain.Tx, st domain.SentState, ts int64) {
	conv := st.Conversation
	if !st.ConversationFound || ts <= conv.LastActivityMS {
		return
	}
	tx.AdvanceConversationActivity(conv.ID, ts)
	c := st.Contact
	if c.Ver > 0 && c.LastConversationID == conv.ID && ts > c.ConvLastActivityMS {
		c.ConvLastActivityMS = ts
		tx.PutContact(c)
	}
}

// fail records a permanent failure of the part.
func (s *Sender) fail(ctx context.Context, p domain.OutgoingPart, e domain.SendError) (string, error) {
	tx := new(domain.Tx)
	tx.MarkFailed(p.ConversationID, p.SK(), p.SendAttempt, e)
	tx.DeletePendingSend(p.ChannelID, p.ContactIGSID, p.SK(), p.SendAttempt) // a re-send that failed
	if err := s.store.Commit(ctx, tx); err != nil {
		return "", fmt.Errorf("record failure: %w", err)
	}
	s.log.WarnContext(ctx, "send failed", "message_id", p.ID, "code", e.Code, "subcode", e.Subcode, "error", e.Message)
	return outcomeFailed, nil
}

// unknown handles an attempt whose outcome is unknown: mark it pending under its contact (so
// its echo, queued behind this command, is attached to it), enqueue a check in a group of its
// own, and complete the command so that the conversation's group — and the echo — move on.
func (s *Sender) unknown(ctx context.Context, env envelope.Envelope, p domain.OutgoingPart) (string, error) {
	ps := domain.PendingSend{
		ChannelID: p.ChannelID, ContactIGSID: p.ContactIGSID, ConversationID: p.ConversationID,
		MessageSK: p.SK(), MessageID: p.ID, Attempt: p.SendAttempt, AttemptMS: p.AttemptMS,
	}
	if len(p.Attachments) > 0 {
		ps.AttachmentType = p.Attachments[0].Type
	} else {
		ps.Text = p.Text
	}
	tx := new(domain.Tx)
	tx.PutPendingSend(ps)
	if err := s.store.Commit(ctx, tx); err != nil {
		return "", fmt.Errorf("mark pending send: %w", err)
	}
	check, err := envelope.NewSendCheck(env.AccountID, env.ContactID, s.now().UnixMilli(), envelope.SendCommand{
		ConversationID: p.ConversationID, MessageID: p.ID, MessageSK: p.SK(), Attempt: p.SendAttempt,
	})
	if err != nil {
		return "", err
	}
	if err := s.pub.Publish(ctx, []envelope.Envelope{check}); err != nil {
		return "", fmt.Errorf("enqueue send check: %w", err)
	}
	return outcomeUnknown, nil
}

// check runs in the check's own group: once the grace period of attempt cmd.Attempt is over
// with no echo reconciled, it releases the part and enqueues a fresh send in the
// conversation's group. Every step is conditional, so an echo racing it wins.
func (s *Sender) check(ctx context.Context, env envelope.Envelope, cmd envelope.SendCommand) (string, error) {
	st, err := s.store.LoadSendState(ctx, env.AccountID, env.ContactID, cmd.ConversationID, cmd.MessageSK)
	if err != nil {
		return "", err
	}
	p := st.Part
	if !st.PartFound || p.Status != domain.MessageQueued || p.SendAttempt != cmd.Attempt {
		return outcomeNoop, nil // echo reconciled, or a later attempt took over
	}
	if p.SendPending {
		due := time.UnixMilli(p.AttemptMS).Add(s.cfg.Grace)
		if wait := due.Sub(s.now()); wait > 0 {
			return outcomeWaiting, processor.Defer(errors.New("waiting for the echo of an attempt with an unknown outcome"), wait)
		}
		if p.SendAttempt >= s.cfg.MaxUnknownAttempts {
			// Meta kept answering without saying whether it took the message, and no echo came:
			// stop rather than re-send forever. A late echo is stored as an echo of its own.
			return s.fail(ctx, p, domain.SendError{Message: fmt.Sprintf("not confirmed: %d attempts had an unknown outcome and no echo arrived", p.SendAttempt)})
		}
		tx := new(domain.Tx)
		tx.ReleaseAttempt(p.ConversationID, p.SK(), p.SendAttempt)
		if err := s.store.Commit(ctx, tx); err != nil {
			return "", fmt.Errorf("release attempt: %w", err)
		}
	}
	send, err := envelope.NewSend(env.AccountID, env.ContactID, s.now().UnixMilli(), envelope.SendCommand{
		ConversationID: p.ConversationID, MessageID: p.ID, MessageSK: p.SK(), Attempt: p.SendAttempt,
	})
	if err != nil {
		return "", err
	}
	if err := s.pub.Publish(ctx, []envelope.Envelope{send}); err != nil {
		// Retried alone; the part stays released, so the next delivery enqueues again.
		return "", processor.Defer(fmt.Errorf("enqueue re-send: %w", err), s.cfg.RetryBase)
	}
	return outcomeResent, nil
}

// ReconcileEcho attaches the echo of one of our own sends whose outcome was unknown to its
// pending part (same contact, same content; oldest pending part first): the part becomes sent
// with the echo's mid, and no new message is stored. It reports whether it did. st is the
// echo's event state (its per-mid record is not stored).
func (s *Sender) ReconcileEcho(ctx context.Context, st domain.EventState, echo domain.Message) (bool, error) {
	pending, err := s.store.PendingSends(ctx, echo.ChannelID, echo.ContactIGSID)
	if err != nil || len(pending) == 0 {
		return false, err
	}
	for _, ps := range pending {
		if !sameContent(ps, echo) {
			continue
		}
		sst, err := s.store.LoadSendState(ctx, ps.ChannelID, ps.ContactIGSID, ps.ConversationID, ps.MessageSK)
		if err != nil {
			return false, err
		}
		if !sst.PartFound || sst.Part.Status != domain.MessageQueued || sst.Part.SendAttempt != ps.Attempt {
			// A stale marker (the part was settled or re-sent meanwhile): drop it, look further.
			tx := new(domain.Tx)
			tx.DeletePendingSend(ps.ChannelID, ps.ContactIGSID, ps.MessageSK, ps.Attempt)
			if err := s.store.Commit(ctx, tx); err != nil && !errors.Is(err, domain.ErrConflict) {
				return false, fmt.Errorf("drop stale pending send: %w", err)
			}
			continue
		}
		tx := new(domain.Tx)
		sentSK := tx.MarkSent(sst.Part, ps.Attempt, echo.MID, echo.TimestampMS)
		tx.DeletePendingSend(ps.ChannelID, ps.ContactIGSID, ps.MessageSK, ps.Attempt)
		rec := st.MID
		rec.ConversationID, rec.MessageSK, rec.TTL = ps.ConversationID, sentSK, 0
		tx.PutMID(rec)
		// A lost condition (the contact moved) fails the echo's event, which the inbox decides
		// again from a fresh read.
		moveActivity(tx, domain.SentState{Contact: sst.Contact, Conversation: sst.Conversation,
			ConversationFound: sst.ConversationFound}, echo.TimestampMS)
		if err := s.store.Commit(ctx, tx); err != nil {
			return false, fmt.Errorf("reconcile echo with %s: %w", ps.MessageID, err)
		}
		s.log.InfoContext(ctx, "echo attached to a send with an unknown outcome", "message_id", ps.MessageID,
			"attempt", ps.Attempt, "outcome", outcomeReconciled)
		return true, nil
	}
	return false, nil
}

// sameContent: an echo of a text part carries the same text; an echo of an attachment part
// carries one attachment of the same type (Meta re-hosts the media, so URLs differ).
func sameContent(ps domain.PendingSend, echo domain.Message) bool {
	if ps.AttachmentType != "" {
		return len(echo.Attachments) == 1 && echo.Attachments[0].Type == ps.AttachmentType && echo.Text == ""
	}
	return len(echo.Attachments) == 0 && echo.Text == ps.Text
}

// Router sends send commands and checks to the Sender and every other envelope to next (the
// inbox service): the processor's service.
type Router struct {
	Sender *Sender
	Next   processor.Service
}

// Handle implements processor.Service.
func (r Router) Handle(ctx context.Context, env envelope.Envelope) error {
	switch env.Kind {
	case envelope.KindSend, envelope.KindSendCheck:
		return r.Sender.Handle(ctx, env)
	}
	return r.Next.Handle(ctx, env)
}
