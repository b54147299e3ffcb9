package refresher_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iginbox/iginbox/local/metasim"
	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/metrics"
	"github.com/iginbox/iginbox/shared/refresher"
	"github.com/iginbox/iginbox/shared/store"
)

const day = 24 * time.Hour

// syncBuffer is the shared goroutine-safe log sink.
type syncBuffer = testenv.LogBuffer

type env struct {
	st      *store.Store
	sim     *metasim.Simulator
	gc      *graph.Client
	logs    *syncBuffer
	metrics *syncBuffer
	log     *slog.Logger
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := testenv.DynamoDB(t)
	sim := metasim.New(metasim.Config{})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	e := &env{
		st: store.New(db, testenv.Table(t, db)), sim: sim,
		gc:   graph.New(graph.Config{BaseURL: srv.URL, Timeout: 5 * time.Second}),
		logs: &syncBuffer{}, metrics: &syncBuffer{},
	}
	e.log = slog.New(slog.NewJSONHandler(e.logs, nil))
	t.Cleanup(func() {
		if strings.Contains(e.logs.String(), "IGSIM") || strings.Contains(e.metrics.String(), "IGSIM") {
			t.Errorf("a token reached the logs:\n%s", e.logs.String())
		}
	})
	return e
}

// seed connects a channel whose token was issued at refreshedAt and expires at expires.
func (e *env) seed(t *testing.T, id string, refreshedAt, expires time.Time) string {
	t.Helper()
	tok := e.sim.IssueToken(id)
	if _, err := e.st.ConnectChannel(context.Background(), domain.Channel{ID: id, Username: "u" + id, AccessToken: tok, TokenExpiresAt: expires}, refreshedAt); err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *env) channel(t *testing.T, id string) domain.Channel {
	t.Helper()
	ch, err := e.st.GetChannel(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if ch.AccessToken != "" {
		t.Fatal("GetChannel returned the token: the channel item holds it")
	}
	// A flagged channel has no token item any more: AccessToken stays empty.
	if ch.AccessToken, err = e.st.GetChannelToken(context.Background(), id); err != nil && !errors.Is(err, domain.ErrNotFound) {
		t.Fatal(err)
	}
	return ch
}

func TestRunRefreshesFlagsAndLeavesTransientFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	now := time.Now()
	tokens := map[string]string{
		"101": e.seed(t, "101", now.Add(-40*day), now.Add(20*day)),    // due: refreshed
		"102": e.seed(t, "102", now.Add(-40*day), now.Add(20*day)),    // due: token dead -> flagged
		"103": e.seed(t, "103", now.Add(-40*day), now.Add(20*day)),    // due: transient failure
		"104": e.seed(t, "104", now.Add(-5*day), now.Add(55*day)),     // beyond the horizon
		"105": e.seed(t, "105", now.Add(-10*time.Hour), now.Add(day)), // younger than 24 h
	}
	e.sim.Revoke("102")
	e.sim.AddFault(metasim.Fault{Path: "/refresh_access_token", Code: 2, AccountID: "103"})

	r := refresher.New(refresher.Config{}, e.st, e.gc, e.log, metrics.NewWriter(e.metrics, "test", "refresher"))
	sum, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := refresher.Summary{Due: 3, Refreshed: 1, Failed: 1, Flagged: 1, ItemsRead: 4}
	if sum != want {
		t.Fatalf("summary = %+v, want %+v", sum, want)
	}

	refreshed := e.channel(t, "101")
	exp := now.Add(metasim.LongLivedSeconds * time.Second)
	if refreshed.AccessToken == tokens["101"] || refreshed.TokenExpiresAt.Before(exp.Add(-time.Minute)) || refreshed.TokenExpiresAt.After(exp.Add(time.Minute)) {
		t.Errorf("101 not refreshed: expires %v", refreshed.TokenExpiresAt)
	}
	dead := e.channel(t, "102")
	// Flagged, and the dead token is not kept.
	if !dead.ReauthRequired || !strings.Contains(dead.ReauthReason, "code 190") || dead.ReauthAt.IsZero() || dead.AccessToken != "" {
		t.Errorf("102 not flagged (or its dead token kept): %+v", dead)
	}
	if c := e.channel(t, "103"); c.AccessToken != tokens["103"] || c.ReauthRequired {
		t.Errorf("103 must be left for the next run: %+v", c)
	}
	for _, id := range []string{"104", "105"} {
		if c := e.channel(t, id); c.AccessToken != tokens[id] {
			t.Errorf("%s is not due and must not be refreshed", id)
		}
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"level":"WARN","msg":"channel needs re-authorization"`) || !strings.Contains(logs, `"account_id":"102"`) {
		t.Errorf("want a WARN line for the flagged channel:\n%s", logs)
	}
	if !strings.Contains(logs, `"msg":"token refresh run","due":3,"refreshed":1,"failed":1,"flagged":1`) {
		t.Errorf("want a summary line:\n%s", logs)
	}
	var emf map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(e.metrics.String())), &emf); err != nil {
		t.Fatalf("metrics line: %v", err)
	}
	if emf["ChannelsFlaggedForReauth"] != float64(1) || emf["TokenRefreshFailures"] != float64(1) || emf["_aws"] == nil ||
		emf["Stage"] != "test" || emf["Function"] != "refresher" {
		t.Errorf("EMF line = %v", emf)
	}
	// The alarms of template.yaml (ChannelsReauthAlarm, TokenRefreshFailuresAlarm) read these.
	directive := emf["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
	if fmt.Sprintf("%v %v", directive["Namespace"], directive["Dimensions"]) != "iginbox [[Stage Function]]" {
		t.Errorf("EMF directive = %v", directive)
	}

	// Next run: only the transient failure is still due.
	sum, err = r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Due != 1 || sum.Failed != 1 {
		t.Fatalf("second run = %+v", sum)
	}
}

// reconnectingGraph simulates a re-connect that lands while the refresh call is in flight.
type reconnectingGraph struct {
	refresher.Graph
	st        *store.Store
	newToken  string
	failDead  bool
	reconnect sync.Once
}

func (g *reconnectingGraph) RefreshToken(ctx context.Context, token string) (graph.Token, error) {
	var err error
	g.reconnect.Do(func() {
		_, err = g.st.ConnectChannel(ctx, domain.Channel{ID: "201", Username: "u201", AccessToken: g.newToken, TokenExpiresAt: time.Now().Add(60 * day)}, time.Now())
	})
	if err != nil {
		return graph.Token{}, err
	}
	if g.failDead {
		return graph.Token{}, &graph.Error{Op: "refresh token", HTTPStatus: 400, Code: 190, Message: "Error validating access token"}
	}
	return g.Graph.RefreshToken(ctx, token)
}

func TestRunLosesNoConcurrentReconnect(t *testing.T) {
	t.Parallel()
	for _, dead := range []bool{false, true} {
		t.Run(fmt.Sprintf("refresh answers dead=%v", dead), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			now := time.Now()
			e.seed(t, "201", now.Add(-50*day), now.Add(10*day))
			fresh := e.sim.IssueToken("201")
			g := &reconnectingGraph{Graph: e.gc, st: e.st, newToken: fresh, failDead: dead}
			sum, err := refresher.New(refresher.Config{}, e.st, g, e.log, nil).Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if sum.Due != 1 || sum.Conflicts != 1 || sum.Refreshed+sum.Flagged+sum.Failed != 0 {
				t.Fatalf("summary = %+v", sum)
			}
			ch := e.channel(t, "201")
			if ch.AccessToken != fresh || ch.ReauthRequired {
				t.Fatalf("the re-connect was lost: reauth=%v token replaced=%v", ch.ReauthRequired, ch.AccessToken != fresh)
			}
		})
	}
}

// slowGraph records how many refreshes run at once.
type slowGraph struct {
	inFlight, max atomic.Int32
}

func (g *slowGraph) RefreshToken(_ context.Context, token string) (graph.Token, error) {
	n := g.inFlight.Add(1)
	defer g.inFlight.Add(-1)
	for {
		m := g.max.Load()
		if n <= m || g.max.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(20 * time.Millisecond)
	return graph.Token{AccessToken: token + "-r", ExpiresIn: metasim.LongLivedSeconds}, nil
}

func TestRunBoundsConcurrency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		concurrency int
		want        int32
	}{
		{"default 8", 0, 8},
		{"configured 3", 3, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			now := time.Now()
			for i := range 30 {
				e.seed(t, fmt.Sprint(300+i), now.Add(-40*day), now.Add(20*day))
			}
			g := &slowGraph{}
			sum, err := refresher.New(refresher.Config{Concurrency: tc.concurrency}, e.st, g, e.log, nil).Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if sum.Refreshed != 30 {
				t.Fatalf("summary = %+v", sum)
			}
			if got := g.max.Load(); got != tc.want {
				t.Fatalf("max concurrent refreshes = %d, want %d", got, tc.want)
			}
		})
	}
}
