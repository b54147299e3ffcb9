package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/store"
)

const convToken = "conversations-api-token"

type convWorld struct {
	t   *testing.T
	st  *store.Store
	srv *api.Server
}

func newConvWorld(t *testing.T) *convWorld {
	t.Helper()
	db := testenv.DynamoDB(t)
	st := store.New(db, testenv.Table(t, db))
	return &convWorld{t: t, st: st, srv: api.New(convToken, slog.New(slog.NewJSONHandler(io.Discard, nil)), api.WithConversations(st))}
}

// seed writes a conversation of (channel, contact) with n incoming messages starting at base.
func (w *convWorld) seed(channel, igsid string, base int64, n int, status string) string {
	w.t.Helper()
	ctx := context.Background()
	id := fmt.Sprintf("%024x", base)
	tx := new(domain.Tx)
	last := base + int64(n-1)
	tx.CreateConversation(domain.Conversation{ID: id, ChannelID: channel, ContactIGSID: igsid, Status: status, Seq: 1, LastActivityMS: last, LastIncomingMS: last, CreatedAt: time.Unix(0, 0)})
	contact := domain.Contact{ChannelID: channel, IGSID: igsid, Name: "Name " + igsid, Username: "u" + igsid, LastConversationID: id, ConversationSeq: 1, ConvLastActivityMS: last, ConvLastIncomingMS: last}
	if status == domain.StatusOpen {
		contact.OpenConversationID = id
	}
	tx.PutContact(contact)
	for i := range n {
		tx.PutMessage(domain.Message{ID: fmt.Sprintf("m%d", i), ConversationID: id, ChannelID: channel, ContactIGSID: igsid, MID: fmt.Sprintf("mid-%d", i),
			Direction: domain.DirectionIncoming, Status: domain.MessageReceived, Text: fmt.Sprint("msg ", i), TimestampMS: base + int64(i)})
	}
	if err := w.st.Commit(ctx, tx); err != nil {
		w.t.Fatalf("seed: %v", err)
	}
	return id
}

func (w *convWorld) call(method, path string, query map[string]string, body string) (int, map[string]any) {
	w.t.Helper()
	resp, _ := w.srv.HandleRequest(context.Background(), events.APIGatewayV2HTTPRequest{
		RawPath:               path,
		Headers:               map[string]string{"authorization": "Bearer " + convToken},
		QueryStringParameters: query,
		Body:                  body,
		RequestContext:        events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method}},
	})
	var out map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
		w.t.Fatalf("%s %s: body %q: %v", method, path, resp.Body, err)
	}
	return resp.StatusCode, out
}

func ids(list any) []string {
	var out []string
	for _, c := range list.([]any) {
		out = append(out, c.(map[string]any)["id"].(string))
	}
	return out
}

func TestConversationPaging(t *testing.T) {
	t.Parallel()
	w := newConvWorld(t)
	const chA, chB = "17841400000000001", "17841400000000002"
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).UnixMilli()
	var want []string // newest first
	for i := range 5 {
		status := domain.StatusOpen
		if i%2 == 1 {
			status = domain.StatusResolved
		}
		want = append([]string{w.seed(chA, fmt.Sprint("c", i), base+int64(i)*1000, 1, status)}, want...)
	}
	other := w.seed(chB, "x", base+99000, 1, domain.StatusOpen)

	var got []string
	q := map[string]string{"channel_id": chA, "limit": "2"}
	for pages := 0; ; pages++ {
		code, body := w.call(http.MethodGet, "/api/conversations", q, "")
		if code != http.StatusOK {
			t.Fatalf("page %d: %d %v", pages, code, body)
		}
		got = append(got, ids(body["conversations"])...)
		next, ok := body["next_cursor"].(string)
		if !ok {
			break
		}
		q["cursor"] = next
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("channel pages %v, want %v", got, want)
	}

	_, all := w.call(http.MethodGet, "/api/conversations", nil, "")
	if g := ids(all["conversations"]); len(g) != 6 || g[0] != other {
		t.Errorf("all channels: %v", g)
	}
	if _, has := all["next_cursor"]; has {
		t.Error("next_cursor on the last page")
	}

	code, open := w.call(http.MethodGet, "/api/conversations", map[string]string{"channel_id": chA, "status": "open", "limit": "1"}, "")
	if code != http.StatusOK || len(ids(open["conversations"])) != 1 || ids(open["conversations"])[0] != want[0] {
		t.Errorf("open filter: %d %v", code, open)
	}
	// Follow the filtered pages to the end.
	var openIDs []string
	q = map[string]string{"channel_id": chA, "status": "open", "limit": "1"}
	for {
		_, body := w.call(http.MethodGet, "/api/conversations", q, "")
		openIDs = append(openIDs, ids(body["conversations"])...)
		next, ok := body["next_cursor"].(string)
		if !ok {
			break
		}
		q["cursor"] = next
	}
	if len(openIDs) != 3 {
		t.Errorf("open conversations %v, want 3", openIDs)
	}

	conv := all["conversations"].([]any)[0].(map[string]any)
	contact := conv["contact"].(map[string]any)
	if conv["channel_id"] != chB || conv["status"] != "open" || contact["igsid"] != "x" || contact["name"] != "Name x" || contact["username"] != "ux" || contact["unknown"] != false {
		t.Errorf("conversation shape %v", conv)
	}
	if conv["last_activity_at"] != "2026-11-20T10:01:39.000Z" || conv["last_incoming_at"] != "2026-11-20T10:01:39.000Z" {
		t.Errorf("conversation times %v", conv)
	}
}

func TestMessagePaging(t *testing.T) {
	t.Parallel()
	w := newConvWorld(t)
	id := w.seed("17841400000000001", "c", 1763802000000, 7, domain.StatusOpen)
	var got []string
	q := map[string]string{"limit": "3"}
	for {
		code, body := w.call(http.MethodGet, "/api/conversations/"+id+"/messages", q, "")
		if code != http.StatusOK {
			t.Fatalf("%d %v", code, body)
		}
		for _, m := range body["messages"].([]any) {
			got = append(got, m.(map[string]any)["text"].(string))
		}
		next, ok := body["next_cursor"].(string)
		if !ok {
			break
		}
		q["cursor"] = next
	}
	if strings.Join(got, ",") != "msg 0,msg 1,msg 2,msg 3,msg 4,msg 5,msg 6" {
		t.Errorf("messages oldest first: %v", got)
	}
	_, body := w.call(http.MethodGet, "/api/conversations/"+id+"/messages", map[string]string{"limit": "1"}, "")
	m := body["messages"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "mid", "direction", "echo", "text", "attachments", "reactions", "status", "deleted", "unsupported", "timestamp"} {
		if _, ok := m[k]; !ok {
			t.Errorf("message field %q missing: %v", k, m)
		}
	}
}

func TestConversationErrors(t *testing.T) {
	t.Parallel()
	w := newConvWorld(t)
	id := w.seed("17841400000000001", "c", 1763802000000, 2, domain.StatusOpen)
	forged := base64.RawURLEncoding.EncodeToString([]byte("m1|" + id + "|MSG#12#x"))
	otherList := base64.RawURLEncoding.EncodeToString([]byte("c1|other||0000000000001#" + id))
	for _, tc := range []struct {
		name   string
		method string
		path   string
		query  map[string]string
		body   string
		status int
		code   string
	}{
		{"limit zero", http.MethodGet, "/api/conversations", map[string]string{"limit": "0"}, "", 400, "invalid_limit"},
		{"limit too big", http.MethodGet, "/api/conversations", map[string]string{"limit": "201"}, "", 400, "invalid_limit"},
		{"limit not a number", http.MethodGet, "/api/conversations/" + id + "/messages", map[string]string{"limit": "ten"}, "", 400, "invalid_limit"},
		{"cursor garbage", http.MethodGet, "/api/conversations", map[string]string{"cursor": "!!!"}, "", 400, "invalid_cursor"},
		{"cursor of another list", http.MethodGet, "/api/conversations", map[string]string{"cursor": otherList}, "", 400, "invalid_cursor"},
		{"messages cursor forged", http.MethodGet, "/api/conversations/" + id + "/messages", map[string]string{"cursor": forged}, "", 400, "invalid_cursor"},
		{"bad status filter", http.MethodGet, "/api/conversations", map[string]string{"status": "closed"}, "", 400, "invalid_status"},
		{"unknown conversation", http.MethodGet, "/api/conversations/" + strings.Repeat("0", 24) + "/messages", nil, "", 404, "not_found"},
		{"malformed id", http.MethodGet, "/api/conversations/..%2F/messages", nil, "", 404, "not_found"},
		{"bad status body", http.MethodPost, "/api/conversations/" + id + "/status", nil, `{"status":"closed"}`, 400, "invalid_status"},
		{"unknown field", http.MethodPost, "/api/conversations/" + id + "/status", nil, `{"state":"open"}`, 400, "invalid_json"},
		{"status of unknown conversation", http.MethodPost, "/api/conversations/" + strings.Repeat("a", 24) + "/status", nil, `{"status":"resolved"}`, 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := w.call(tc.method, tc.path, tc.query, tc.body)
			e, _ := body["error"].(map[string]any)
			if code != tc.status || e == nil || e["code"] != tc.code {
				t.Errorf("got %d %v, want %d %s", code, body, tc.status, tc.code)
			}
		})
	}
}

func TestConversationStatus(t *testing.T) {
	t.Parallel()
	w := newConvWorld(t)
	id := w.seed("17841400000000001", "c", 1763802000000, 1, domain.StatusOpen)
	for _, tc := range []struct {
		body, want string
	}{
		{`{"status":"resolved"}`, "resolved"},
		{`{"status":"resolved"}`, "resolved"}, // idempotent
		{`{"status":"open"}`, "open"},
	} {
		code, body := w.call(http.MethodPost, "/api/conversations/"+id+"/status", nil, tc.body)
		if code != http.StatusOK || body["status"] != tc.want || body["id"] != id {
			t.Errorf("%s: %d %v", tc.body, code, body)
		}
	}
	c, err := w.st.GetContact(context.Background(), "17841400000000001", "c")
	if err != nil || c.OpenConversationID != id {
		t.Errorf("contact open conversation %q (%v)", c.OpenConversationID, err)
	}
}
