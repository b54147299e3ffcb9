package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/local/metasim"
	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/erasure"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/oauth"
	"github.com/iginbox/iginbox/shared/store"
)

// recorder is a fake command publisher (our own interface).
type recorder struct {
	mu   sync.Mutex
	envs []envelope.Envelope
}

func (r *recorder) Publish(_ context.Context, envs []envelope.Envelope) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.envs = append(r.envs, envs...)
	return nil
}

func TestDisconnectAndEraseRoutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.DynamoDB(t)
	st := store.New(db, testenv.Table(t, db))
	sim := metasim.New(metasim.Config{AppSecret: chanAppSecret})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	logs := &chanLogs{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	gc := graph.New(graph.Config{BaseURL: srv.URL, AppID: "app-1", AppSecret: chanAppSecret})
	pub := &recorder{}
	server := api.New(chanAPIToken, log, api.WithReplies(st, pub, api.ReplyConfig{HumanAgent: true}),
		api.WithErasure(st, erasure.Starter{Store: st, Pub: pub}, api.ErasureConfig{StatusURL: oauth.PublicURL}))
	unsub := erasure.NewUnsubscriber(st, gc, log)
	call := func(method, path, body string) (int, string) {
		ev := events.APIGatewayV2HTTPRequest{RawPath: path, Body: body, Headers: map[string]string{"authorization": "Bearer " + chanAPIToken}}
		if i := strings.IndexByte(path, '?'); i >= 0 {
			ev.RawPath = path[:i]
			ev.QueryStringParameters = map[string]string{}
			for _, kv := range strings.Split(path[i+1:], "&") {
				k, v, _ := strings.Cut(kv, "=")
				ev.QueryStringParameters[k] = v
			}
		}
		ev.RequestContext.HTTP.Method = method
		ev.RequestContext.DomainName = chanDomain
		resp, err := server.HandleRequest(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Body
	}
	const acct, other = "17841400000000042", "17841400000000043"
	for _, id := range []string{acct, other} {
		if _, err := st.ConnectChannel(ctx, domain.Channel{ID: id, Username: "shop", AccessToken: sim.IssueToken(id),
			TokenExpiresAt: time.Now().Add(50 * 24 * time.Hour)}, time.Now()); err != nil {
			t.Fatal(err)
		}
		tok, err := st.GetChannelToken(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := gc.Subscribe(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	// A conversation to reply to and to erase.
	now := time.Now()
	conv := domain.Conversation{ID: "0123456789abcdef01234567", ChannelID: acct, ContactIGSID: "5550001", Status: domain.StatusOpen,
		Seq: 1, LastActivityMS: now.UnixMilli(), LastIncomingMS: now.UnixMilli(), CreatedAt: now}
	tx := new(domain.Tx)
	tx.CreateConversation(conv)
	tx.PutContact(domain.Contact{ChannelID: acct, IGSID: "5550001", LastConversationID: conv.ID, OpenConversationID: conv.ID,
		ConversationSeq: 1, ConvLastIncomingMS: now.UnixMilli()})
	if err := st.Commit(ctx, tx); err != nil {
		t.Fatal(err)
	}

	if status, body := call(http.MethodDelete, "/api/channels/"+acct+"?purge=maybe", ""); status != http.StatusBadRequest {
		t.Errorf("purge=maybe: %d %s", status, body)
	}
	if status, body := call(http.MethodDelete, "/api/channels/17841400000000999", ""); status != http.StatusNotFound {
		t.Errorf("unknown channel: %d %s", status, body)
	}
	status, body := call(http.MethodDelete, "/api/channels/"+acct, "")
	var out struct {
		Channel          api.ChannelJSON `json:"channel"`
		Unsubscribe      string          `json:"unsubscribe"`
		UnsubscribeError *string         `json:"unsubscribe_error"`
		Purge            *struct{ URL, ConfirmationCode string }
	}
	// The api function never reads a token (its role may not): it queues the unsubscription,
	// which the processor runs with the token, and leaves the token item to it.
	if status != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil || out.Unsubscribe != "pending" || out.UnsubscribeError != nil ||
		out.Channel.Status != "disconnected" || out.Channel.DisconnectedAt == nil || out.Channel.UnsubscribedAt != nil || out.Purge != nil {
		t.Fatalf("disconnect: %d %s", status, body)
	}
	if ch, _ := st.GetChannel(ctx, acct); !ch.Disconnected() {
		t.Errorf("stored channel after disconnect: %+v", ch)
	}
	if hasNoToken(ctx, st, acct) {
		t.Error("the api deleted the token the unsubscription needs")
	}
	if n := len(pub.envs); n != 1 || pub.envs[0].Kind != envelope.KindUnsubscribe || pub.envs[0].GroupID() != envelope.PurgeGroup(acct) {
		t.Fatalf("enqueued %+v", pub.envs)
	}
	// Replies to a disconnected channel's conversations are refused.
	if status, body := call(http.MethodPost, "/api/conversations/"+conv.ID+"/messages", `{"text":"hi"}`); status != http.StatusConflict ||
		!strings.Contains(body, "channel_disconnected") {
		t.Errorf("reply to a disconnected channel: %d %s", status, body)
	}
	// The processor runs the command (twice: a redelivery is a no-op).
	for range 2 {
		if err := unsub.Handle(ctx, pub.envs[0]); err != nil {
			t.Fatal(err)
		}
	}
	if n := sim.Count("DELETE /{ver}/me/subscribed_apps"); n != 1 || sim.Subscribed(acct) != "" || sim.Subscribed(other) == "" {
		t.Errorf("unsubscribes seen by Meta: %d; subscribed: %q, other %q", n, sim.Subscribed(acct), sim.Subscribed(other))
	}
	if !hasNoToken(ctx, st, acct) {
		t.Error("token item kept after the unsubscription")
	}
	ch, _ := st.GetChannel(ctx, acct)
	if j := api.NewChannelJSON(ch); j.UnsubscribedAt == nil || j.UnsubscribeError != "" || j.Status != "disconnected" {
		t.Errorf("channel after the unsubscription: %+v", j)
	}
	// Again, with purge: queued again (the processor finds it done), then the purge, in order.
	status, body = call(http.MethodDelete, "/api/channels/"+acct+"?purge=true", "")
	out.Purge = nil
	if status != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil || out.Unsubscribe != "pending" || out.Channel.UnsubscribedAt == nil ||
		!strings.Contains(body, `"confirmation_code"`) || !strings.Contains(body, "http://"+chanDomain+"/instagram/data-deletion/") {
		t.Fatalf("disconnect with purge: %d %s", status, body)
	}
	if n := len(pub.envs); n != 3 || pub.envs[1].Kind != envelope.KindUnsubscribe || pub.envs[2].Kind != envelope.KindPurge ||
		pub.envs[1].GroupID() != pub.envs[2].GroupID() {
		t.Fatalf("enqueued %+v", pub.envs)
	}
	if err := unsub.Handle(ctx, pub.envs[1]); err != nil {
		t.Fatal(err)
	}
	if n := sim.Count("DELETE /{ver}/me/subscribed_apps"); n != 1 {
		t.Errorf("unsubscribed again: %d calls", n)
	}
	// Contact erasure.
	if status, _ := call(http.MethodDelete, "/api/conversations/ffffffffffffffffffffffff/contact", ""); status != http.StatusNotFound {
		t.Errorf("erase contact of an unknown conversation: %d", status)
	}
	status, body = call(http.MethodDelete, "/api/conversations/"+conv.ID+"/contact", "")
	if status != http.StatusAccepted || !strings.Contains(body, `"erasing"`) {
		t.Fatalf("erase contact: %d %s", status, body)
	}
	last := pub.envs[len(pub.envs)-1]
	if last.Kind != envelope.KindEraseContact || last.GroupID() != envelope.GroupID(acct, "5550001") {
		t.Errorf("erasure command %+v", last)
	}
	if ch, _ := st.GetChannel(ctx, other); ch.Disconnected() || hasNoToken(ctx, st, other) {
		t.Errorf("the other channel changed: %+v", ch)
	}
	if strings.Contains(logs.String(), "IGSIM") {
		t.Error("a token reached the log")
	}
}

// hasNoToken reports whether the channel's token item is gone (tokens live in their own items).
func hasNoToken(ctx context.Context, st *store.Store, id string) bool {
	_, err := st.GetChannelToken(ctx, id)
	return errors.Is(err, domain.ErrNotFound)
}

// failingPublisher refuses every message (our own interface).
type failingPublisher struct{}

func (failingPublisher) Publish(context.Context, []envelope.Envelope) error {
	return errors.New("queue unavailable")
}

// When the unsubscription cannot be queued, the api deletes the token itself and says so.
func TestDisconnectEnqueueFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.DynamoDB(t)
	st := store.New(db, testenv.Table(t, db))
	server := api.New(chanAPIToken, slog.New(slog.NewJSONHandler(&chanLogs{}, nil)),
		api.WithErasure(st, erasure.Starter{Store: st, Pub: failingPublisher{}}, api.ErasureConfig{StatusURL: oauth.PublicURL}))
	const acct = "17841400000000044"
	if _, err := st.ConnectChannel(ctx, domain.Channel{ID: acct, Username: "shop", AccessToken: "IGSIM_tok",
		TokenExpiresAt: time.Now().Add(50 * 24 * time.Hour)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	ev := events.APIGatewayV2HTTPRequest{RawPath: "/api/channels/" + acct, Headers: map[string]string{"authorization": "Bearer " + chanAPIToken}}
	ev.RequestContext.HTTP.Method = http.MethodDelete
	ev.RequestContext.DomainName = chanDomain
	resp, err := server.HandleRequest(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Channel          api.ChannelJSON `json:"channel"`
		Unsubscribe      string          `json:"unsubscribe"`
		UnsubscribeError string          `json:"unsubscribe_error"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(resp.Body), &out) != nil || out.Unsubscribe != "failed" ||
		!strings.Contains(out.UnsubscribeError, "could not be queued") || out.Channel.Status != "disconnected" {
		t.Fatalf("disconnect: %d %s", resp.StatusCode, resp.Body)
	}
	if !hasNoToken(ctx, st, acct) {
		t.Error("token item kept although the unsubscription was not queued")
	}
}
