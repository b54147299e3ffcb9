package callbacks_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/callbacks"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/erasure"
	"github.com/iginbox/iginbox/shared/oauth"
	"github.com/iginbox/iginbox/shared/store"
)

const secret = "dev-app-secret"

// queue records what the data-deletion callback enqueues (our own Publisher interface).
type queue struct {
	mu   sync.Mutex
	envs []envelope.Envelope
}

func (q *queue) Publish(_ context.Context, envs []envelope.Envelope) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.envs = append(q.envs, envs...)
	return nil
}

func newHandler(t *testing.T) (callbacks.LambdaHandler, *store.Store, *queue, *bytes.Buffer) {
	t.Helper()
	db := testenv.DynamoDB(t)
	st := store.New(db, testenv.Table(t, db))
	q := &queue{}
	logs := &bytes.Buffer{}
	h, err := callbacks.New(callbacks.Config{AppSecret: secret, PublicURL: oauth.PublicURL}, st,
		erasure.Starter{Store: st, Pub: q}, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	next := func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusTeapot}, nil
	}
	return h.Route(next), st, q, logs
}

func request(method, path, body string, b64 bool) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{RawPath: path, Body: body, IsBase64Encoded: b64,
		Headers: map[string]string{"content-type": "application/x-www-form-urlencoded"}}
	ev.RequestContext.HTTP.Method = method
	ev.RequestContext.DomainName = "abc.execute-api.us-east-1.amazonaws.com"
	return ev
}

func signed(t *testing.T, key, user string, issued time.Time) string {
	t.Helper()
	v, err := callbacks.SignRequest(key, map[string]any{"algorithm": "HMAC-SHA256", "issued_at": issued.Unix(), "user_id": user})
	if err != nil {
		t.Fatal(err)
	}
	return url.Values{"signed_request": {v}}.Encode()
}

func connect(t *testing.T, st *store.Store, id string) {
	t.Helper()
	if _, err := st.ConnectChannel(context.Background(), domain.Channel{ID: id, AccessToken: "tok-" + id,
		TokenExpiresAt: time.Now().Add(50 * 24 * time.Hour)}, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestDeauthorize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, st, _, logs := newHandler(t)
	connect(t, st, "17841400000000001")
	connect(t, st, "17841400000000002")
	body := signed(t, secret, "17841400000000001", time.Now())
	for i, b64 := range []bool{false, true} { // twice: idempotent; API Gateway may base64 the body
		in := body
		if b64 {
			in = base64.StdEncoding.EncodeToString([]byte(body))
		}
		resp, err := h(ctx, request(http.MethodPost, "/instagram/deauthorize", in, b64))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("deauthorize #%d: %d %s %v", i+1, resp.StatusCode, resp.Body, err)
		}
	}
	ch, err := st.GetChannel(ctx, "17841400000000001")
	if err != nil || !ch.Disconnected() || !noToken(ctx, st, "17841400000000001") || ch.DisconnectReason != domain.DisconnectDeauthorized {
		t.Errorf("channel after deauthorize: %+v %v", ch, err)
	}
	if other, _ := st.GetChannel(ctx, "17841400000000002"); other.Disconnected() || noToken(ctx, st, "17841400000000002") {
		t.Errorf("another channel changed: %+v", other)
	}
	// Unknown account: 200, nothing created.
	resp, _ := h(ctx, request(http.MethodPost, "/instagram/deauthorize", signed(t, secret, "17841400000000999", time.Now()), false))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("unknown account: %d", resp.StatusCode)
	}
	if _, err := st.GetChannel(ctx, "17841400000000999"); err == nil {
		t.Error("a deauthorize created a channel")
	}
	if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), "tok-") {
		t.Error("a secret or token reached the log")
	}
}

func TestRefusedCallbacksChangeNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, st, q, logs := newHandler(t)
	connect(t, st, "17841400000000001")
	valid := signed(t, secret, "17841400000000001", time.Now())
	tests := []struct{ name, method, body string }{
		{"wrong key", http.MethodPost, signed(t, "not-the-secret", "17841400000000001", time.Now())},
		{"stale", http.MethodPost, signed(t, secret, "17841400000000001", time.Now().Add(-25*time.Hour))},
		{"missing field", http.MethodPost, "other=1"},
		{"empty body", http.MethodPost, ""},
		{"not a form", http.MethodPost, "%zz"},
		{"garbage", http.MethodPost, "signed_request=" + url.QueryEscape("\x00\ufffe.\U0001F602")},
		{"GET", http.MethodGet, valid},
	}
	for _, path := range []string{"/instagram/deauthorize", "/instagram/data-deletion"} {
		for _, tc := range tests {
			resp, err := h(ctx, request(tc.method, path, tc.body, false))
			want := http.StatusBadRequest
			if tc.method != http.MethodPost {
				want = http.StatusMethodNotAllowed
			}
			if err != nil || resp.StatusCode != want {
				t.Errorf("%s %s: %d %v, want %d", path, tc.name, resp.StatusCode, err, want)
			}
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if json.Unmarshal([]byte(resp.Body), &e) != nil || e.Error.Code == "" {
				t.Errorf("%s %s: body %q is not the JSON error shape", path, tc.name, resp.Body)
			}
		}
	}
	if ch, _ := st.GetChannel(ctx, "17841400000000001"); ch.Disconnected() || noToken(ctx, st, "17841400000000001") {
		t.Errorf("a refused callback changed the channel: %+v", ch)
	}
	if len(q.envs) != 0 {
		t.Errorf("a refused callback enqueued %d commands", len(q.envs))
	}
	if strings.Contains(logs.String(), secret) {
		t.Error("the app secret reached the log")
	}
	// Other paths go to the OAuth callback.
	if resp, _ := h(ctx, request(http.MethodGet, "/instagram/callback", "", false)); resp.StatusCode != http.StatusTeapot {
		t.Errorf("/instagram/callback was not passed on: %d", resp.StatusCode)
	}
}

func TestDataDeletionAndStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, st, q, _ := newHandler(t)
	connect(t, st, "17841400000000001")
	resp, err := h(ctx, request(http.MethodPost, "/instagram/data-deletion", signed(t, secret, "17841400000000001", time.Now()), false))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("data deletion: %d %s %v", resp.StatusCode, resp.Body, err)
	}
	var out struct {
		URL  string `json:"url"`
		Code string `json:"confirmation_code"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil || !erasure.ValidCode(out.Code) ||
		out.URL != "https://abc.execute-api.us-east-1.amazonaws.com/instagram/data-deletion/"+out.Code {
		t.Fatalf("answer %s: %+v %v", resp.Body, out, err)
	}
	if len(q.envs) != 1 || q.envs[0].Kind != envelope.KindPurge || q.envs[0].AccountID != "17841400000000001" {
		t.Fatalf("enqueued %+v, want the purge's first step", q.envs)
	}
	if ch, _ := st.GetChannel(ctx, "17841400000000001"); !ch.Disconnected() || !noToken(ctx, st, "17841400000000001") {
		t.Errorf("the channel is not disconnected at once: %+v", ch)
	}
	path := "/instagram/data-deletion/" + out.Code
	resp, _ = h(ctx, request(http.MethodGet, path, "", false))
	var status callbacks.StatusJSON
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(resp.Body), &status) != nil || status.Status != domain.DeletionPending ||
		status.ConfirmationCode != out.Code {
		t.Errorf("status: %d %s", resp.StatusCode, resp.Body)
	}
	if strings.Contains(resp.Body, "17841400000000001") {
		t.Errorf("the public status page names the account: %s", resp.Body)
	}
	if err := st.RecordPurgeStep(ctx, out.Code, map[string]int{domain.KindMessage: 3}, true, time.Now()); err != nil {
		t.Fatal(err)
	}
	page := request(http.MethodGet, path, "", false)
	page.Headers["accept"] = "text/html,application/xhtml+xml"
	resp, _ = h(ctx, page)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Headers["Content-Type"], "text/html") ||
		!strings.Contains(resp.Body, "completed") || !strings.Contains(resp.Body, out.Code) {
		t.Errorf("HTML status: %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}
	for _, bad := range []string{strings.Repeat("0", 32), "not-a-code", "<script>", ""} {
		resp, _ := h(ctx, request(http.MethodGet, "/instagram/data-deletion/"+bad, "", false))
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("status of %q: %d, want 404", bad, resp.StatusCode)
		}
	}
}

// noToken reports whether the channel's token item is gone (tokens live in their own items).
func noToken(ctx context.Context, st *store.Store, id string) bool {
	_, err := st.GetChannelToken(ctx, id)
	return errors.Is(err, domain.ErrNotFound)
}
