package graph_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/iginbox/iginbox/shared/graph"
)

func TestSendMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		req         graph.SendRequest
		status      int
		body        string
		wantBody    string
		wantMID     string
		wantCode    int
		wantSub     int
		wantTransit bool
		wantDead    bool
	}{
		{"text", graph.SendRequest{RecipientIGSID: "123", Text: "hi"}, 200, `{"recipient_id":"123","message_id":"aWdfZAG1"}`,
			`{"recipient":{"id":"123"},"message":{"text":"hi"}}`, "aWdfZAG1", 0, 0, false, false},
		{"image tagged HUMAN_AGENT", graph.SendRequest{RecipientIGSID: "123", AttachmentType: "image", AttachmentURL: "https://x/a.jpg", MessagingType: graph.MessagingTypeTag, Tag: graph.TagHumanAgent},
			200, `{"recipient_id":"123","message_id":"m2"}`,
			`{"recipient":{"id":"123"},"message":{"attachment":{"type":"image","payload":{"url":"https://x/a.jpg"}}},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT"}`, "m2", 0, 0, false, false},
		{"190", graph.SendRequest{RecipientIGSID: "123", Text: "hi"}, 400, `{"error":{"message":"Error validating access token: Session has expired.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"A"}}`,
			"", "", 190, 463, false, true},
		{"rate limit", graph.SendRequest{RecipientIGSID: "123", Text: "hi"}, 400, `{"error":{"message":"(#613) Calls to this api have exceeded the rate limit.","type":"OAuthException","code":613,"error_subcode":2534040,"fbtrace_id":"A"}}`,
			"", "", 613, 2534040, true, false},
		{"window error inside a 200", graph.SendRequest{RecipientIGSID: "123", Text: "hi"}, 200, `{"error":{"message":"(#10) This message is sent outside of allowed window.","type":"OAuthException","code":10,"error_subcode":2534022,"fbtrace_id":"A"}}`,
			"", "", 10, 2534022, false, false},
		{"5xx", graph.SendRequest{RecipientIGSID: "123", Text: "hi"}, 503, `{"error":{"message":"Please retry","type":"OAuthException","code":2,"fbtrace_id":"A"}}`,
			"", "", 2, 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var gotBody, gotAuth, gotPath, gotQuery string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				gotBody, gotAuth, gotPath, gotQuery = string(b), r.Header.Get("Authorization"), r.URL.Path, r.URL.RawQuery
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			c := graph.New(graph.Config{BaseURL: srv.URL})
			res, err := c.SendMessage(context.Background(), secretToken, tc.req)
			if gotPath != "/"+graph.Version+"/me/messages" || gotAuth != "Bearer "+secretToken || gotQuery != "" {
				t.Errorf("request %s?%s auth %q", gotPath, gotQuery, gotAuth)
			}
			if tc.wantBody != "" {
				var a, b any
				_ = json.Unmarshal([]byte(gotBody), &a)
				_ = json.Unmarshal([]byte(tc.wantBody), &b)
				if ja, _ := json.Marshal(a); string(ja) != func() string { jb, _ := json.Marshal(b); return string(jb) }() {
					t.Errorf("body %s, want %s", gotBody, tc.wantBody)
				}
			}
			if tc.wantMID != "" {
				if err != nil || res.MessageID != tc.wantMID {
					t.Fatalf("got %+v %v", res, err)
				}
				return
			}
			ge, ok := graph.AsError(err)
			if !ok || ge.Code != tc.wantCode || ge.Subcode != tc.wantSub {
				t.Fatalf("error %v", err)
			}
			if graph.IsTransient(err) != tc.wantTransit || graph.IsTokenDead(err) != tc.wantDead {
				t.Errorf("transient %v dead %v", graph.IsTransient(err), graph.IsTokenDead(err))
			}
			if strings.Contains(err.Error(), secretToken) {
				t.Error("token in error text")
			}
		})
	}
}

func TestSendMessageTimeoutIsUnknownOutcome(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	c := graph.New(graph.Config{BaseURL: srv.URL, Timeout: 100 * time.Millisecond})
	_, err := c.SendMessage(context.Background(), secretToken, graph.SendRequest{RecipientIGSID: "1", Text: "x"})
	ge, ok := graph.AsError(err)
	if !ok || !ge.Timeout {
		t.Fatalf("want a timeout error, got %v", err)
	}
	if strings.Contains(err.Error(), secretToken) {
		t.Error("token in error text")
	}
}
