package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/api"
)

// A known path with another method answers 405 method_not_allowed with the Allow header
// listing the path's methods; an unknown path answers 404 without it.
func TestMethodNotAllowedSaysAllow(t *testing.T) {
	t.Parallel()
	st := newFuzzStore()
	srv := api.New(fuzzToken, slog.New(slog.NewJSONHandler(io.Discard, nil)), api.WithConversations(st), api.WithReplies(st, fuzzPublisher{}, api.ReplyConfig{}))
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodDelete, "/api/conversations/c1/messages", http.StatusMethodNotAllowed, "GET, POST"},
		{http.MethodGet, "/api/conversations/c1/read", http.StatusMethodNotAllowed, "POST"},
		{http.MethodPut, "/api/conversations", http.StatusMethodNotAllowed, "GET"},
		{http.MethodGet, "/api/nothing/here", http.StatusNotFound, ""},
	} {
		resp, _ := srv.HandleRequest(context.Background(), events.APIGatewayV2HTTPRequest{
			RawPath:        tc.path,
			Headers:        map[string]string{"authorization": "Bearer " + fuzzToken},
			RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: tc.method, Path: tc.path}},
		})
		if resp.StatusCode != tc.status || resp.Headers["Allow"] != tc.allow {
			t.Errorf("%s %s = %d Allow %q, want %d Allow %q", tc.method, tc.path, resp.StatusCode, resp.Headers["Allow"], tc.status, tc.allow)
		}
	}
}
