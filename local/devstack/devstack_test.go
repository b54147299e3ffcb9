package devstack

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iginbox/iginbox/local/emulator"
	"github.com/iginbox/iginbox/local/samtemplate"
)

// descendants lists every process below pid (Linux /proc).
func descendants(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			c, err := strconv.Atoi(s)
			if err == nil {
				out = append(out, c)
				out = append(out, descendants(c)...)
			}
		}
	}
	return out
}

// TestDevstackServesAndStopsOnSIGINT runs the real `make dev` binary: it must serve the
// verification handshake, listen on 127.0.0.1 only, and leave no process after SIGINT.
func TestDevstackServesAndStopsOnSIGINT(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole local stack")
	}
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("needs Linux /proc")
	}
	bin := filepath.Join(t.TempDir(), "devstack")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/devstack").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	port, err := emulator.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "INSTAGRAM_VERIFY_TOKEN=e2e-verify-token")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	ready := make(chan struct{})
	var logBuf strings.Builder
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		signalled := false
		for sc.Scan() {
			if logBuf.Len() < 1<<16 {
				logBuf.WriteString(sc.Text() + "\n")
			}
			if !signalled && strings.Contains(sc.Text(), "Ctrl-C stops everything") {
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case <-ready:
	case <-logDone: // stdout closed: the stack exited at start
		_ = cmd.Wait()
		t.Fatalf("devstack exited at start:\n%s", logBuf.String())
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		<-logDone
		t.Fatalf("not ready after 3 minutes:\n%s", logBuf.String())
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	tmpl := mustTemplate(t)
	if hasWebhookVerify(tmpl) {
		resp, err := http.Get(base + "/webhooks/instagram?hub.mode=subscribe&hub.verify_token=e2e-verify-token&hub.challenge=42")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "42" {
			t.Errorf("handshake = %d %q, want 200 42", resp.StatusCode, b)
		}
	}
	resp, err := http.Get(base + "/no/such/route")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown route = %d, want 404", resp.StatusCode)
	}
	kids := descendants(cmd.Process.Pid)
	if len(kids) < 3 {
		t.Errorf("only %d child processes; expected emulators and bootstraps", len(kids))
	}
	if ss, err := exec.Command("ss", "-ltnpH").Output(); err == nil {
		all := append([]int{cmd.Process.Pid}, kids...)
		for _, line := range strings.Split(string(ss), "\n") {
			for _, pid := range all {
				if strings.Contains(line, "pid="+strconv.Itoa(pid)+",") {
					local := strings.Fields(line)[3]
					if !strings.HasPrefix(local, "127.0.0.1:") && !strings.HasPrefix(local, "[::ffff:127.0.0.1]:") {
						t.Errorf("pid %d listens on %s", pid, local)
					}
				}
			}
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("devstack exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("devstack still running 20 s after SIGINT")
	}
	<-logDone
	for _, pid := range kids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d survived SIGINT", pid)
		}
	}
	if t.Failed() {
		t.Logf("devstack output:\n%s", logBuf.String())
	}
}

func mustTemplate(t *testing.T) *samtemplate.Template {
	t.Helper()
	tmpl, err := samtemplate.LoadRepo()
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func hasWebhookVerify(tmpl *samtemplate.Template) bool {
	fns, err := tmpl.Functions()
	if err != nil {
		return false
	}
	for _, f := range fns {
		for _, e := range f.Events {
			if e.Type == samtemplate.EventHTTPAPI && e.Method == "GET" && e.Path == "/webhooks/instagram" {
				return true
			}
		}
	}
	return false
}
