package erasure_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/iginbox/iginbox/local/metasim"
	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/erasure"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/store"
)

const unsubscribePattern = "DELETE /{ver}/me/subscribed_apps"

// unsubWorld is a table, the simulator and a subscribed channel disconnected through the API
// with its unsubscription queued.
type unsubWorld struct {
	st    *store.Store
	sim   *metasim.Simulator
	gc    *graph.Client
	logs  *bytes.Buffer
	unsub *erasure.Unsubscriber
	env   envelope.Envelope
}

func newUnsubWorld(t *testing.T, acct string, meta func(*graph.Client) erasure.Meta) *unsubWorld {
	t.Helper()
	ctx := context.Background()
	db := testenv.DynamoDB(t)
	w := &unsubWorld{st: store.New(db, testenv.Table(t, db)), sim: metasim.New(metasim.Config{AppSecret: "unsub-secret"}), logs: &bytes.Buffer{}}
	srv := httptest.NewServer(w.sim)
	t.Cleanup(srv.Close)
	w.gc = graph.New(graph.Config{BaseURL: srv.URL, AppID: "app-1", AppSecret: "unsub-secret"})
	var m erasure.Meta = w.gc
	if meta != nil {
		m = meta(w.gc)
	}
	w.unsub = erasure.NewUnsubscriber(w.st, m, slog.New(slog.NewJSONHandler(w.logs, nil)))
	w.connect(t, acct)
	if _, err := w.st.MarkDisconnected(ctx, acct, domain.DisconnectAPI, time.Now()); err != nil {
		t.Fatal(err)
	}
	q := &queue{}
	if err := (erasure.Starter{Pub: q}).StartUnsubscribe(ctx, acct); err != nil {
		t.Fatal(err)
	}
	envs := q.take()
	if len(envs) != 1 || envs[0].Kind != envelope.KindUnsubscribe || envs[0].GroupID() != envelope.PurgeGroup(acct) {
		t.Fatalf("queued %+v", envs)
	}
	w.env = envs[0]
	t.Cleanup(func() {
		if strings.Contains(w.logs.String(), "IGSIM") {
			t.Error("a token reached the log")
		}
	})
	return w
}

// connect connects (or re-connects) the account with a fresh token and subscribes it; it
// returns the token.
func (w *unsubWorld) connect(t *testing.T, acct string) string {
	t.Helper()
	ctx := context.Background()
	tok := w.sim.IssueToken(acct)
	if _, err := w.st.ConnectChannel(ctx, domain.Channel{ID: acct, Username: "shop", AccessToken: tok,
		TokenExpiresAt: time.Now().Add(50 * 24 * time.Hour)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := w.gc.Subscribe(ctx, tok); err != nil {
		t.Fatal(err)
	}
	return tok
}

func (w *unsubWorld) channel(t *testing.T, acct string) domain.Channel {
	t.Helper()
	ch, err := w.st.GetChannel(context.Background(), acct)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// A re-connect between the disconnect and the command keeps its token and its subscription.
func TestUnsubscribeSkipsReconnectedChannel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newUnsubWorld(t, acctA, nil)
	fresh := w.connect(t, acctA)
	if err := w.unsub.Handle(ctx, w.env); err != nil {
		t.Fatal(err)
	}
	if n := w.sim.Count(unsubscribePattern); n != 0 || w.sim.Subscribed(acctA) == "" {
		t.Errorf("unsubscribed a re-connected account: %d calls, subscribed %q", n, w.sim.Subscribed(acctA))
	}
	if tok, err := w.st.GetChannelToken(ctx, acctA); err != nil || tok != fresh {
		t.Errorf("fresh token lost: %v", err)
	}
	if ch := w.channel(t, acctA); ch.Disconnected() || !ch.UnsubscribedAt.IsZero() || ch.UnsubscribeError != "" {
		t.Errorf("channel: %+v", ch)
	}
}

// reconnecting re-connects the account while Meta handles the unsubscription (our own
// interface around the Graph client).
type reconnecting struct {
	gc    *graph.Client
	again func()
}

func (r reconnecting) Unsubscribe(ctx context.Context, token string) error {
	r.again()
	return r.gc.Unsubscribe(ctx, token)
}

// A re-connect that lands while Meta is called keeps its fresh token: the token delete and
// the outcome are conditional on the channel still being disconnected.
func TestUnsubscribeRacingReconnectKeepsFreshToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var w *unsubWorld
	var fresh string
	w = newUnsubWorld(t, acctB, func(gc *graph.Client) erasure.Meta {
		return reconnecting{gc: gc, again: func() { fresh = w.connect(t, acctB) }}
	})
	if err := w.unsub.Handle(ctx, w.env); err != nil {
		t.Fatal(err)
	}
	if tok, err := w.st.GetChannelToken(ctx, acctB); err != nil || tok != fresh {
		t.Errorf("fresh token lost: %v", err)
	}
	if ch := w.channel(t, acctB); ch.Disconnected() || !ch.UnsubscribedAt.IsZero() || ch.UnsubscribeError != "" {
		t.Errorf("channel: %+v", ch)
	}
}

// Meta refusing (a dead token, code 190) is recorded with Meta's message and the token is
// deleted; the command is not retried.
func TestUnsubscribeRecordsGraphError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newUnsubWorld(t, acctA, nil)
	const metaMsg = "Error validating access token \U0001F602 \u05E9\u05DC\u05D5\u05DD"
	w.sim.AddFault(metasim.Fault{Path: "/" + graph.Version + "/me/subscribed_apps", Method: http.MethodDelete, Code: 190, Subcode: 460, Message: metaMsg})
	if err := w.unsub.Handle(ctx, w.env); err != nil {
		t.Fatalf("a refusal is not retried: %v", err)
	}
	if _, err := w.st.GetChannelToken(ctx, acctA); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("token item after the refusal: %v", err)
	}
	ch := w.channel(t, acctA)
	if !ch.UnsubscribedAt.IsZero() || !strings.Contains(ch.UnsubscribeError, metaMsg) || !strings.Contains(ch.UnsubscribeError, "190") ||
		strings.Contains(ch.UnsubscribeError, "IGSIM") {
		t.Errorf("channel: %+v", ch)
	}
	// A redelivery keeps Meta's message (no token left, nothing to call).
	if err := w.unsub.Handle(ctx, w.env); err != nil {
		t.Fatal(err)
	}
	if again := w.channel(t, acctA); again.UnsubscribeError != ch.UnsubscribeError || w.sim.Count(unsubscribePattern) != 1 {
		t.Errorf("redelivery: %+v, %d calls", again, w.sim.Count(unsubscribePattern))
	}
}

// A transient Graph error is returned (the processor retries the message); the token stays
// for the retry, which unsubscribes.
func TestUnsubscribeRetriesTransientError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newUnsubWorld(t, acctB, nil)
	w.sim.AddFault(metasim.Fault{Path: "/" + graph.Version + "/me/subscribed_apps", Method: http.MethodDelete, Code: 2, Times: 1})
	if err := w.unsub.Handle(ctx, w.env); err == nil || !graph.IsTransient(err) {
		t.Fatalf("want a transient error, got %v", err)
	}
	if ch := w.channel(t, acctB); !ch.UnsubscribedAt.IsZero() || ch.UnsubscribeError != "" {
		t.Errorf("outcome recorded for a transient error: %+v", ch)
	}
	if err := w.unsub.Handle(ctx, w.env); err != nil {
		t.Fatal(err)
	}
	if _, err := w.st.GetChannelToken(ctx, acctB); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("token item after the unsubscription: %v", err)
	}
	if ch := w.channel(t, acctB); ch.UnsubscribedAt.IsZero() || ch.UnsubscribeError != "" || w.sim.Subscribed(acctB) != "" {
		t.Errorf("after the retry: %+v, subscribed %q", ch, w.sim.Subscribed(acctB))
	}
}

// Without a token (deleted by an earlier disconnect), the unsubscription records that.
func TestUnsubscribeWithoutToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newUnsubWorld(t, acctA, nil)
	if err := w.st.DeleteToken(ctx, acctA); err != nil {
		t.Fatal(err)
	}
	if err := w.unsub.Handle(ctx, w.env); err != nil {
		t.Fatal(err)
	}
	if ch := w.channel(t, acctA); ch.UnsubscribeError != erasure.NoTokenError || w.sim.Count(unsubscribePattern) != 0 {
		t.Errorf("channel: %+v", ch)
	}
}
