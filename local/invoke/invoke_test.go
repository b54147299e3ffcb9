package invoke

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iginbox/iginbox/local/testenv"
)

// TestInvoke runs the real bootstraps through the command against the test emulators.
func TestInvoke(t *testing.T) {
	testenv.AWSConfig(t) // emulators up, AWS_ENDPOINT_URL_* set
	bad := filepath.Join(t.TempDir(), "bad-sqs.json")
	if err := os.WriteFile(bad, []byte(`{"Records":"not a list"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr []string
	}{
		{
			name:       "webhook verification answers the challenge",
			args:       []string{"-fn", "webhook", "-event", "events/apigw/webhook-verify.json"},
			wantStdout: []string{`"statusCode": 200`, `"body": "1158201444"`},
			wantStderr: []string{"using the emulators", "outcome=verified"},
		},
		{
			name:       "logical id and a signed POST",
			args:       []string{"-fn", "WebhookFunction", "-event", "events/apigw/webhook-post-message.json"},
			wantStdout: []string{`"statusCode": 200`},
			wantStderr: []string{"outcome=queued", "archive=archived"},
		},
		{
			name:       "publisher puts the stream batch's events on the local bus",
			args:       []string{"-fn", "publisher", "-event", "events/dynamodb/stream-batch.json"},
			wantStdout: []string{`"batchItemFailures": []`},
			wantStderr: []string{"3 events put on the local bus", `"detail-type":"message.received"`, `"detail-type":"conversation.status_changed"`},
		},
		{
			name:       "function error exits 1",
			args:       []string{"-fn", "processor", "-event", bad},
			wantCode:   exitFunction,
			wantStdout: []string{`"errorType"`},
			wantStderr: []string{"returned an error"},
		},
		{name: "unknown function", args: []string{"-fn", "nope", "-event", "events/schedule/refresher.json"}, wantCode: exitUsage, wantStderr: []string{"one of: "}},
		{name: "missing event", args: []string{"-fn", "refresher", "-event", "events/none.json"}, wantCode: exitUsage, wantStderr: []string{"read event"}},
		{name: "no flags", wantCode: exitUsage, wantStderr: []string{"Usage: invoke"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Run(context.Background(), tc.args, &out, &errOut, os.Getenv)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, out.String(), errOut.String())
			}
			if tc.wantCode == exitOK && !json.Valid(out.Bytes()) {
				t.Errorf("stdout is not JSON:\n%s", out.String())
			}
			for _, s := range tc.wantStdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tc.wantStderr {
				if !strings.Contains(errOut.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut.String())
				}
			}
			if strings.Contains(out.String()+errOut.String(), "dev-app-secret") {
				t.Error("the app secret appears in the output")
			}
		})
	}
}
