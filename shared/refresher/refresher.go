// Package refresher keeps long-lived Instagram tokens alive: on every scheduled run it finds
// the channels whose token is due (through the expiry index, never a scan), refreshes them with
// bounded concurrency, flags the channels whose token died, and leaves transient failures to
// the next run.
package refresher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/metrics"
)

// Defaults of Config.
const (
	DefaultHorizon     = 30 * 24 * time.Hour
	DefaultConcurrency = 8
	// MinTokenAge: Meta refreshes only tokens at least 24 hours old.
	MinTokenAge = 24 * time.Hour
)

// Config configures a Refresher.
type Config struct {
	Horizon     time.Duration // TOKEN_REFRESH_HORIZON
	Concurrency int           // REFRESH_CONCURRENCY
	// MinAge is the minimum token age (REFRESH_MIN_AGE, default MinTokenAge). Meta refuses to
	// refresh younger tokens; only local demos against the simulator lower it (e.g. 1s).
	MinAge time.Duration
}

// Store is what the refresher needs from the table (implemented by *store.Store).
type Store interface {
	DueChannels(ctx context.Context, now time.Time, horizon, minAge time.Duration) ([]domain.Channel, domain.ReadStats, error)
	UpdateToken(ctx context.Context, accountID, oldToken, newToken string, expiresAt, refreshedAt time.Time) error
	FlagReauthIfToken(ctx context.Context, accountID, token, reason string, at time.Time) error
}

// Graph refreshes tokens (implemented by *graph.Client).
type Graph interface {
	RefreshToken(ctx context.Context, token string) (graph.Token, error)
}

var (
	_ Graph = (*graph.Client)(nil)
)

// Summary is the outcome of a run.
type Summary struct {
	Due       int `json:"due"`
	Refreshed int `json:"refreshed"`
	Failed    int `json:"failed"`    // transient or unexpected errors: retried next run
	Flagged   int `json:"flagged"`   // token dead: reauth_required set
	Conflicts int `json:"conflicts"` // a re-connect (or flag) changed the channel meanwhile
	ItemsRead int `json:"items_read"`
}

// Refresher runs refresh passes.
type Refresher struct {
	cfg   Config
	store Store
	graph Graph
	log   *slog.Logger
	emf   *metrics.Writer
	now   func() time.Time
}

// New returns a Refresher. emf receives the run's metrics (nil: none).
func New(cfg Config, st Store, g Graph, log *slog.Logger, emf *metrics.Writer) *Refresher {
	if cfg.Horizon <= 0 {
		cfg.Horizon = DefaultHorizon
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.MinAge <= 0 {
		cfg.MinAge = MinTokenAge
	}
	return &Refresher{cfg: cfg, store: st, graph: g, log: log, emf: emf, now: time.Now}
}

type outcome int

const (
	refreshed outcome = iota
	failed
	flagged
	conflict
)

// Run refreshes every due channel and returns the summary. It returns an error only when the
// due channels cannot be listed; per-channel failures are counted.
func (r *Refresher) Run(ctx context.Context) (Summary, error) {
	start := r.now()
	due, stats, err := r.store.DueChannels(ctx, start, r.cfg.Horizon, r.cfg.MinAge)
	if err != nil {
		return Summary{}, fmt.Errorf("refresh run: %w", err)
	}
	sum := Summary{Due: len(due), ItemsRead: stats.ItemsRead}
	results := make(chan outcome, len(due))
	sem := make(chan struct{}, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, ch := range due {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results <- r.refresh(ctx, ch)
		}()
	}
	wg.Wait()
	close(results)
	for o := range results {
		switch o {
		case refreshed:
			sum.Refreshed++
		case failed:
			sum.Failed++
		case flagged:
			sum.Flagged++
		case conflict:
			sum.Conflicts++
		}
	}
	r.log.InfoContext(ctx, "token refresh run", "due", sum.Due, "refreshed", sum.Refreshed, "failed", sum.Failed,
		"flagged", sum.Flagged, "conflicts", sum.Conflicts, "items_read", sum.ItemsRead,
		"duration_ms", r.now().Sub(start).Milliseconds())
	r.emitMetrics(sum)
	return sum, nil
}

func (r *Refresher) refresh(ctx context.Context, ch domain.Channel) outcome {
	tok, err := r.graph.RefreshToken(ctx, ch.AccessToken)
	now := r.now()
	if err != nil {
		if graph.IsTokenDead(err) {
			reason := err.Error()
			ferr := r.store.FlagReauthIfToken(ctx, ch.ID, ch.AccessToken, reason, now)
			switch {
			case errors.Is(ferr, domain.ErrConflict), errors.Is(ferr, domain.ErrNotFound):
				r.log.InfoContext(ctx, "token refresh superseded", "account_id", ch.ID, "reason", "channel changed meanwhile")
				return conflict
			case ferr != nil:
				r.log.ErrorContext(ctx, "flag channel for re-authorization failed", "account_id", ch.ID, "error", ferr.Error())
				return failed
			}
			r.log.WarnContext(ctx, "channel needs re-authorization", "account_id", ch.ID, "username", ch.Username, "reason", reason)
			return flagged
		}
		level := slog.LevelWarn
		if !graph.IsTransient(err) {
			level = slog.LevelError
		}
		r.log.Log(ctx, level, "token refresh failed; retried next run", "account_id", ch.ID,
			"transient", graph.IsTransient(err), "error", err.Error(), "token_expires_at", ch.TokenExpiresAt.Format(time.RFC3339))
		return failed
	}
	expires := tok.ExpiresAt(now)
	if err := r.store.UpdateToken(ctx, ch.ID, ch.AccessToken, tok.AccessToken, expires, now); err != nil {
		if errors.Is(err, domain.ErrConflict) || errors.Is(err, domain.ErrNotFound) {
			r.log.InfoContext(ctx, "token refresh superseded", "account_id", ch.ID, "reason", "channel changed meanwhile")
			return conflict
		}
		r.log.ErrorContext(ctx, "store refreshed token failed", "account_id", ch.ID, "error", err.Error())
		return failed
	}
	r.log.InfoContext(ctx, "token refreshed", "account_id", ch.ID, "token_expires_at", expires.Format(time.RFC3339))
	return refreshed
}

// emitMetrics writes one CloudWatch embedded-metric-format line with the run's counters
// (ChannelsFlaggedForReauth and TokenRefreshFailures feed alarms).
func (r *Refresher) emitMetrics(sum Summary) {
	_ = r.emf.Emit(metrics.Line{
		Time: r.now(),
		Metrics: []metrics.Metric{
			{Name: metrics.ChannelsFlaggedForReauth, Value: float64(sum.Flagged)},
			{Name: "TokensRefreshed", Value: float64(sum.Refreshed)},
			{Name: "TokenRefreshFailures", Value: float64(sum.Failed)},
			{Name: "TokensDue", Value: float64(sum.Due)},
		},
	})
}
