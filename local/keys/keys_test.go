package keys

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/store"
)

// The CLI creates a key the API accepts, lists it without its secret, and revokes it.
func TestKeysCLI(t *testing.T) {
	db := testenv.DynamoDB(t)
	table := testenv.Table(t, db)
	st := store.New(db, table)
	open := func(got string) (Store, error) {
		if got != table {
			t.Errorf("table %q, want %q", got, table)
		}
		return st, nil
	}
	getenv := func(name string) string {
		if name == "TABLE_NAME" {
			return table
		}
		return ""
	}
	cli := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Run(context.Background(), args, getenv, &out, &errOut, open)
		return code, out.String(), errOut.String()
	}

	code, out, errOut := cli("create", "--name", "alice", "--channels", "17841400000000001")
	if code != 0 {
		t.Fatalf("create: %d %s", code, errOut)
	}
	var key string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "igk_") {
			key = line
		}
	}
	if key == "" {
		t.Fatalf("create printed no key:\n%s", out)
	}
	srv := api.New("bootstrap-token-for-cli-test", slog.New(slog.DiscardHandler), api.WithIdentities(st, api.IdentityConfig{SessionSecret: "s"}))
	whoami := func() int {
		resp, _ := srv.HandleRequest(context.Background(), events.APIGatewayV2HTTPRequest{RawPath: "/api/session",
			Headers:        map[string]string{"authorization": "Bearer " + key},
			RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodGet}}})
		return resp.StatusCode
	}
	if s := whoami(); s != http.StatusOK {
		t.Fatalf("the created key: %d", s)
	}

	code, out, _ = cli("list")
	if code != 0 || !strings.Contains(out, "alice") || !strings.Contains(out, "17841400000000001") || strings.Contains(out, key) {
		t.Errorf("list: %d\n%s", code, out)
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(key, "igk_"), "_")
	if code, out, errOut = cli("revoke", id); code != 0 || !strings.Contains(out, "revoked "+id) {
		t.Fatalf("revoke: %d %s %s", code, out, errOut)
	}
	if s := whoami(); s != http.StatusUnauthorized {
		t.Errorf("the revoked key: %d, want 401", s)
	}
	for _, args := range [][]string{{}, {"create"}, {"create", "--name", "x", "--admin", "--channels", "1"}, {"revoke"}, {"nope"}} {
		if code, _, _ := cli(args...); code == 0 {
			t.Errorf("keys %v succeeded", args)
		}
	}
}
