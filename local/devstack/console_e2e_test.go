package devstack

// The agent console in a real browser: Debian's Chromium, headless, driven by
// local/browsertest/console.mjs (playwright-core from `make tools`) through this stack:
// sign in, a simulator message arriving live, a reply with text + image turning sent then read,
// resolve, sign out; then a key limited to one channel on a 375 px phone sees only that
// channel. Screenshots and the step report go to .dev/test-output/console/.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromiumPath is Debian's Chromium (apt-get install chromium); CHROMIUM overrides it.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

func testConsoleBrowser(t *testing.T, s *stack) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(chromiumPath()); err != nil {
		t.Fatalf("no browser at %s: apt-get install -y chromium (or set CHROMIUM)", chromiumPath())
	}
	if _, err := os.Stat(filepath.Join(root, "local", "tools", "node_modules", "playwright-core")); err != nil {
		t.Fatal("playwright-core is not installed: run make tools")
	}

	createKey := func(body string) string {
		status, raw := s.do(t, http.MethodPost, "/api/keys", json.RawMessage(body))
		var out struct{ Key string }
		if err := json.Unmarshal(raw, &out); status != http.StatusCreated || err != nil || out.Key == "" {
			t.Fatalf("POST /api/keys %s: %d %s", body, status, raw)
		}
		return out.Key
	}
	agent := createKey(`{"name":"alice"}`)
	limited := createKey(`{"name":"limited","channels":["` + e2eAccount + `"]}`)

	// A conversation on the second channel that the limited key must never see.
	const otherIGSID = "5550009876"
	if status, raw := s.post(t, s.simURL+"/_sim/message", map[string]string{"igsid": otherIGSID, "text": "other channel", "account_id": revokedAccount}); status != http.StatusOK {
		t.Fatalf("POST /_sim/message to the second channel: %d %s", status, raw)
	}
	s.waitFor(t, 30*time.Second, "the second channel's conversation", func() (bool, string) {
		_, raw := s.do(t, http.MethodGet, "/api/conversations?channel_id="+revokedAccount, nil)
		return strings.Contains(string(raw), otherIGSID), string(raw)
	})

	out := filepath.Join(root, ".dev", "test-output", "console")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(root, "local", "browsertest", "console.mjs"))
	cmd.Env = append(os.Environ(), "CONSOLE_URL="+s.base, "SIM_URL="+s.simURL, "ADMIN_TOKEN="+e2eAPIToken,
		"AGENT_KEY="+agent, "LIMITED_KEY="+limited, "LIMITED_CHANNEL="+e2eAccount,
		"OTHER_CHANNEL="+revokedAccount, "OTHER_IGSID="+otherIGSID, "OUT_DIR="+out, "CHROMIUM="+chromiumPath())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		t.Log(line)
	}
	if err != nil {
		t.Fatalf("browser test failed: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"step":"ok"`) {
		t.Fatalf("browser test did not finish")
	}
	for _, name := range []string{"console-desktop.png", "console-phone-limited.png", "console-phone-conversation.png"} {
		if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Size() == 0 {
			t.Errorf("screenshot %s missing", name)
		}
	}
	t.Logf("screenshots: %s", out)
	// Keys never appear in what the stack printed.
	for _, k := range []string{agent, limited} {
		if n := s.logs.count(func(l string) bool { return strings.Contains(l, k) }); n != 0 {
			t.Errorf("a named key appears in %d lines of the stack's output", n)
		}
	}
}
