package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/envelope"
)

const fuzzToken = "api-token-for-fuzzing"

// fuzzStore is an in-memory fake of every store interface the routes consume: one channel,
// one open conversation with a contact who wrote a minute ago, no messages.
type fuzzStore struct {
	now  time.Time
	conv domain.Conversation
	cont domain.Contact
	ch   domain.Channel
}

func newFuzzStore() *fuzzStore {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &fuzzStore{
		now:  now,
		conv: domain.Conversation{ID: "c1", ChannelID: "1", ContactIGSID: "2", Status: domain.StatusOpen, LastActivityMS: now.Add(-time.Minute).UnixMilli(), LastIncomingMS: now.Add(-time.Minute).UnixMilli(), CreatedAt: now},
		cont: domain.Contact{ChannelID: "1", IGSID: "2", Name: "Ann", OpenConversationID: "c1", LastConversationID: "c1", ConvLastIncomingMS: now.Add(-time.Minute).UnixMilli(), Ver: 3},
		ch:   domain.Channel{ID: "1", Username: "shop", AccessToken: "secret-token", TokenExpiresAt: now.Add(time.Hour)},
	}
}

func (f *fuzzStore) ListConversations(context.Context, domain.ConversationQuery) (domain.ConversationPage, error) {
	return domain.ConversationPage{Conversations: []domain.Conversation{f.conv}, Next: "pos"}, nil
}

func (f *fuzzStore) GetConversation(_ context.Context, id string) (domain.Conversation, error) {
	if id != f.conv.ID {
		return domain.Conversation{}, domain.ErrNotFound
	}
	return f.conv, nil
}

func (f *fuzzStore) GetConversations(_ context.Context, ids []string) ([]domain.Conversation, error) {
	for _, id := range ids {
		if id == f.conv.ID {
			return []domain.Conversation{f.conv}, nil
		}
	}
	return nil, nil
}

func (f *fuzzStore) GetChannel(_ context.Context, accountID string) (domain.Channel, error) {
	if accountID != f.ch.ID {
		return domain.Channel{}, domain.ErrNotFound
	}
	return f.ch, nil
}

func (f *fuzzStore) GetContact(_ context.Context, accountID, igsid string) (domain.Contact, error) {
	if accountID != f.cont.ChannelID || igsid != f.cont.IGSID {
		return domain.Contact{}, domain.ErrNotFound
	}
	return f.cont, nil
}

func (f *fuzzStore) GetContacts(_ context.Context, refs []domain.ContactRef) (map[domain.ContactRef]domain.Contact, error) {
	out := map[domain.ContactRef]domain.Contact{}
	for _, r := range refs {
		if r.ChannelID == f.cont.ChannelID && r.IGSID == f.cont.IGSID {
			out[r] = f.cont
		}
	}
	return out, nil
}

func (f *fuzzStore) ListMessages(context.Context, string, string, int) (domain.MessagePage, error) {
	return domain.MessagePage{}, nil
}

func (f *fuzzStore) SetConversationStatus(_ context.Context, id, status string, _ *domain.Actor, _ time.Time) (domain.Conversation, error) {
	c, err := f.GetConversation(context.Background(), id)
	c.Status = status
	return c, err
}

func (f *fuzzStore) SummarizeConversation(context.Context, domain.Conversation) (domain.ConversationSummary, error) {
	return domain.ConversationSummary{}, nil
}

func (f *fuzzStore) MarkConversationRead(_ context.Context, id string) (domain.Conversation, error) {
	return f.GetConversation(context.Background(), id)
}

func (f *fuzzStore) ListChannels(context.Context) ([]domain.Channel, error) {
	return []domain.Channel{f.ch}, nil
}

func (f *fuzzStore) SetLockToSingleConversation(_ context.Context, accountID string, lock bool, _ time.Time) (domain.Channel, error) {
	if accountID != f.ch.ID {
		return domain.Channel{}, domain.ErrNotFound
	}
	c := f.ch
	c.LockToSingleConversation = lock
	return c, nil
}

func (f *fuzzStore) CreateOutgoing(context.Context, []domain.OutgoingPart, *domain.IdempotencyRecord) error {
	return nil
}

func (f *fuzzStore) GetIdempotency(context.Context, string, string) (domain.IdempotencyRecord, error) {
	return domain.IdempotencyRecord{}, domain.ErrNotFound
}

func (f *fuzzStore) GetOutgoingParts(context.Context, string, []string) ([]domain.OutgoingPart, error) {
	return nil, nil
}

func (f *fuzzStore) Commit(context.Context, *domain.Tx) error { return nil }

type fuzzConnector struct{}

func (fuzzConnector) RedirectURIFor(domain string) (string, error) {
	return "https://" + domain + "/instagram/callback", nil
}
func (fuzzConnector) AuthorizeURL(string) (string, error) {
	return "https://www.instagram.com/oauth/authorize?state=x", nil
}

type fuzzPublisher struct{}

func (fuzzPublisher) Publish(context.Context, []envelope.Envelope) error { return nil }

var fuzzMethods = []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodPut}

// FuzzAPIRequest sends arbitrary methods, paths, queries, headers and bodies through the real
// router and every route's JSON decoding and validation (the consumer interfaces are fakes):
// the server never panics, never answers 5xx, and always answers the error contract's JSON.
func FuzzAPIRequest(f *testing.F) {
	seeds := []struct {
		method        byte
		path, query   string
		body, idemKey string
		authorized    bool
	}{
		{1, "/api/conversations/c1/messages", "", `{"text":"hello"}`, "", true},
		{1, "/api/conversations/c1/messages", "", `{"text":"","attachments":[{"type":"image","url":"https://example.com/a.png"}]}`, "key-1", true},
		{1, "/api/conversations/c1/messages", "", `{"text":"hi","attachments":[{"type":"sticker","url":"ftp://x"}]}`, "", true},
		{1, "/api/conversations/c1/messages", "", `{"text":1}`, "", true},
		{1, "/api/conversations/c1/messages", "", `{"text":"a"}{"text":"b"}`, "", true},
		{1, "/api/conversations/c1/status", "", `{"status":"resolved"}`, "", true},
		{1, "/api/conversations/c1/status", "", `{"status":"archived","x":1}`, "", true},
		{1, "/api/conversations/nope/status", "", `{"status":"open"}`, "", true},
		{2, "/api/channels/1", "", `{"lock_to_single_conversation":true}`, "", true},
		{2, "/api/channels/2", "", `{"lock_to_single_conversation":null}`, "", true},
		{1, "/api/channels/connect", "", ``, "", true},
		{0, "/api/channels", "", ``, "", true},
		{0, "/api/conversations", "channel_id=1&status=open&limit=200&cursor=abc", ``, "", true},
		{0, "/api/conversations", "limit=-1&status=closed", ``, "", true},
		{0, "/api/conversations/c1/messages", "limit=0&cursor=%%%", ``, "", true},
		{0, "/api/conversations", "", ``, "", false},
		{3, "/api/../api/channels//", "", `{`, "", true},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, []byte(s.body), s.idemKey, s.authorized)
	}
	st := newFuzzStore()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv := api.New(fuzzToken, log,
		api.WithChannels(st, fuzzConnector{}),
		api.WithConversations(st),
		api.WithReplies(st, fuzzPublisher{}, api.ReplyConfig{HumanAgent: true, Now: func() time.Time { return st.now }}),
	)
	f.Fuzz(func(t *testing.T, method byte, path, query string, body []byte, idemKey string, authorized bool) {
		q := map[string]string{}
		for _, kv := range strings.Split(query, "&") {
			k, v, _ := strings.Cut(kv, "=")
			if k != "" {
				q[k] = v
			}
		}
		headers := map[string]string{"content-type": "application/json", "idempotency-key": idemKey}
		if authorized {
			headers["authorization"] = "Bearer " + fuzzToken
		}
		m := fuzzMethods[int(method)%len(fuzzMethods)]
		resp, err := srv.HandleRequest(context.Background(), events.APIGatewayV2HTTPRequest{
			RawPath: path, RawQueryString: query, QueryStringParameters: q, Headers: headers, Body: string(body),
			RequestContext: events.APIGatewayV2HTTPRequestContext{DomainName: "api.example.com",
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: m, Path: path}},
		})
		if err != nil {
			t.Fatalf("%s %s: handler error %v", m, path, err)
		}
		if resp.StatusCode >= 500 || resp.StatusCode < 200 {
			t.Fatalf("%s %s %q: status %d body %s", m, path, body, resp.StatusCode, resp.Body)
		}
		if resp.Body != "" && !json.Valid([]byte(resp.Body)) {
			t.Fatalf("%s %s: body is not JSON: %q", m, path, resp.Body)
		}
		if resp.StatusCode >= 400 {
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if json.Unmarshal([]byte(resp.Body), &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%s %s: error body %q breaks the contract", m, path, resp.Body)
			}
		}
		if strings.Contains(resp.Body, "secret-token") || strings.Contains(resp.Body, fuzzToken) {
			t.Fatalf("a secret reached a response")
		}
	})
}

func (fuzzConnector) AuthorizeURLBound(string, string) (string, error) {
	return "https://www.instagram.com/oauth/authorize?state=s", nil
}
