package graph_test

import (
	"context"
	"encoding/json"
	"errors"
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

// Which send failures may hide an accepted message (wait for the echo) and which are
// definite refusals.
func TestSendOutcomeClassification(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		status        int
		body          string
		wantUnknown   bool
		wantRateLimit bool
	}{
		{"504 html", 504, "<html>Gateway Timeout</html>", true, false},
		{"500 code 1", 500, `{"error":{"message":"An unknown error occurred","code":1}}`, true, false},
		{"503 code 2", 503, `{"error":{"message":"retry later","code":2}}`, true, false},
		{"200 code 2", 200, `{"error":{"message":"retry later","code":2}}`, true, false},
		{"200 without message_id", 200, `{"recipient_id":"1"}`, true, false},
		{"200 not JSON", 200, "OK", true, false},
		{"bare 429", 429, "Too Many Requests", false, true},
		{"429 with code 4", 429, `{"error":{"message":"limit","code":4}}`, false, true},
		{"403 code 4", 403, `{"error":{"message":"(#4) Application request limit reached","code":4}}`, false, true},
		{"400 code 613", 400, `{"error":{"message":"(#613)","code":613}}`, false, true},
		{"400 code 10", 400, `{"error":{"message":"outside window","code":10,"error_subcode":2534022}}`, false, false},
		{"400 code 190", 400, `{"error":{"message":"expired","code":190}}`, false, false},
		{"400 html", 400, "<html>Bad Request</html>", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			_, err := graph.New(graph.Config{BaseURL: srv.URL}).SendMessage(context.Background(), "tok", graph.SendRequest{RecipientIGSID: "1", Text: "hi"})
			if err == nil {
				t.Fatal("no error")
			}
			if got := graph.IsOutcomeUnknown(err); got != tc.wantUnknown {
				t.Errorf("IsOutcomeUnknown(%v) = %v, want %v", err, got, tc.wantUnknown)
			}
			if got := graph.IsRateLimited(err); got != tc.wantRateLimit {
				t.Errorf("IsRateLimited(%v) = %v, want %v", err, got, tc.wantRateLimit)
			}
		})
	}
	if !graph.IsOutcomeUnknown(&graph.Error{Op: "send message", Timeout: true}) || !graph.IsOutcomeUnknown(errors.New("connection reset")) {
		t.Error("timeouts and transport failures must be unknown outcomes")
	}
}
