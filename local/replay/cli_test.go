package replay

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func mid(t *testing.T, body string) string {
	t.Helper()
	var w struct {
		Entry []struct {
			Messaging []struct {
				Message  struct{ Mid string } `json:"message"`
				Reaction struct{ Mid string } `json:"reaction"`
				Read     struct{ Mid string } `json:"read"`
			} `json:"messaging"`
			Standby []struct {
				Message struct{ Mid string } `json:"message"`
			} `json:"standby"`
		} `json:"entry"`
	}
	if err := json.Unmarshal([]byte(body), &w); err != nil {
		t.Fatalf("received body is not JSON: %v", err)
	}
	for _, e := range w.Entry {
		for _, m := range e.Messaging {
			switch {
			case m.Message.Mid != "":
				return m.Message.Mid
			case m.Read.Mid != "":
				return "read:" + m.Read.Mid
			}
		}
		for _, m := range e.Standby {
			return m.Message.Mid
		}
	}
	return ""
}

func mids(t *testing.T, bodies []string) []string {
	t.Helper()
	out := make([]string, len(bodies))
	for i, b := range bodies {
		out[i] = mid(t, b)
	}
	return out
}

// sortedOrder is the order of testdata/meta: files sorted by path, NDJSON lines in order.
var sortedOrder = []string{"mid.first", "mid.second", "mid.third", "read:mid.first"}

func TestRunDeliversInSortedOrder(t *testing.T) {
	t.Parallel()
	h := newHook(t, nil)
	res := run(t, nil, "", "--url", h.URL(), "testdata/meta")
	if res.code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
	}
	if got := mids(t, h.received()); !slices.Equal(got, sortedOrder) {
		t.Errorf("delivery order = %v, want %v", got, sortedOrder)
	}
	if h.badSig != 0 || h.badType != 0 {
		t.Errorf("bad signatures %d, bad content types %d", h.badSig, h.badType)
	}
	// The pretty-printed file goes out byte for byte (signed over the raw bytes).
	raw, err := os.ReadFile("testdata/meta/01-message.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := h.received()[0]; got != string(raw) {
		t.Errorf("first body was altered:\n%s\nwant\n%s", got, raw)
	}
	for _, want := range []string{"sent 4/4 bodies (5/5 events)", "statuses: 200×4", "retries:  0", "latency:  p50"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.stdout)
		}
	}
	if lines := strings.Count(res.stderr, "] ok "); lines != 4 {
		t.Errorf("want 4 plain progress lines when not a terminal, got %d:\n%s", lines, res.stderr)
	}
}

func TestRunInputs(t *testing.T) {
	t.Parallel()
	one := `{"object":"instagram","entry":[{"id":"1","time":1,"messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":1700000000000,"message":{"mid":"mid.stdin","text":"x"}}]}]}`
	pretty := "{\n  \"object\": \"instagram\",\n  \"entry\": []\n}\n"
	tests := []struct {
		name   string
		stdin  string
		args   []string
		want   []string // mids, in order
		bodies int
	}{
		{name: "ndjson file, blank lines skipped", args: []string{"testdata/meta/02-batch.ndjson"}, want: []string{"mid.second", "mid.third"}, bodies: 2},
		{name: "single file", args: []string{"testdata/meta/sub/03-read.json"}, want: []string{"read:mid.first"}, bodies: 1},
		{name: "stdin single JSON", stdin: one, args: []string{"-"}, want: []string{"mid.stdin"}, bodies: 1},
		{name: "stdin pretty JSON is one body", stdin: pretty, args: []string{"-"}, want: []string{""}, bodies: 1},
		{name: "stdin NDJSON", stdin: one + "\n\n" + strings.Replace(one, "mid.stdin", "mid.stdin2", 1) + "\n", args: []string{"-"}, want: []string{"mid.stdin", "mid.stdin2"}, bodies: 2},
		{name: "inputs in the order given, flags mixed in", stdin: one, args: []string{"testdata/meta/sub/03-read.json", "--quiet", "-", "--repeat", "1"}, want: []string{"read:mid.first", "mid.stdin"}, bodies: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHook(t, nil)
			res := run(t, nil, tc.stdin, append([]string{"--url", h.URL()}, tc.args...)...)
			if res.code != ExitOK {
				t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
			}
			got := h.received()
			if len(got) != tc.bodies {
				t.Fatalf("received %d bodies, want %d", len(got), tc.bodies)
			}
			if m := mids(t, got); !slices.Equal(m, tc.want) {
				t.Errorf("mids = %v, want %v", m, tc.want)
			}
		})
	}
}

func TestRunRepeat(t *testing.T) {
	t.Parallel()
	h := newHook(t, nil)
	res := run(t, nil, "", "--url", h.URL(), "--repeat", "3", "--concurrency", "4", "--quiet", "testdata/meta")
	if res.code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
	}
	got := h.received()
	if len(got) != 12 {
		t.Fatalf("received %d bodies, want 12", len(got))
	}
	counts := map[string]int{}
	for _, m := range mids(t, got) {
		counts[m]++
	}
	for _, m := range sortedOrder {
		if counts[m] != 3 {
			t.Errorf("%s delivered %d times, want 3", m, counts[m])
		}
	}
	if !strings.Contains(res.stdout, "sent 12/12 bodies (15/15 events)") {
		t.Errorf("summary:\n%s", res.stdout)
	}
	if res.stderr != "" {
		t.Errorf("--quiet printed progress:\n%s", res.stderr)
	}
}

func TestRunShuffleIsReproducibleWithSeed(t *testing.T) {
	t.Parallel()
	order := func(seed string) []string {
		h := newHook(t, nil)
		res := run(t, nil, "", "--url", h.URL(), "--shuffle", "--seed", seed, "--repeat", "3", "testdata/meta")
		if res.code != ExitOK {
			t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
		}
		return mids(t, h.received())
	}
	a, b, c := order("42"), order("42"), order("7")
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different orders:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 42 and 7 gave the same order %v", a)
	}
	unshuffled := slices.Concat(sortedOrder, sortedOrder, sortedOrder)
	if slices.Equal(a, unshuffled) {
		t.Errorf("--shuffle kept the input order")
	}
	sa := slices.Sorted(slices.Values(a))
	if !slices.Equal(sa, slices.Sorted(slices.Values(unshuffled))) {
		t.Errorf("shuffle changed what is delivered: %v", a)
	}
}

func TestRunShuffleWithoutSeedPrintsIt(t *testing.T) {
	t.Parallel()
	res := run(t, nil, "", "--dry-run", "--shuffle", "testdata/meta")
	if res.code != ExitOK || !strings.Contains(res.stderr, "shuffled with --seed ") {
		t.Errorf("exit %d, the seed is not printed:\n%s", res.code, res.stderr)
	}
}

func TestRunRateLimit(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	start := clock.Now()
	h := newHook(t, nil)
	var mu sync.Mutex
	var arrivals []time.Duration // fake time of every request
	h.onRequest = func() {
		mu.Lock()
		defer mu.Unlock()
		arrivals = append(arrivals, clock.Now().Sub(start))
	}
	// 4 bodies × 3 = 12 deliveries at 4/s: the bucket holds 1 token, so 1 goes at once and
	// every later one waits for a token.
	res := run(t, clock, "", "--url", h.URL(), "--rate", "4", "--repeat", "3", "--quiet", "testdata/meta")
	if res.code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
	}
	if len(arrivals) != 12 {
		t.Fatalf("%d requests, want 12", len(arrivals))
	}
	// In any window of one second, at most rate (4) requests.
	for i, a := range arrivals {
		n := 0
		for _, b := range arrivals[i:] {
			if b < a+time.Second {
				n++
			}
		}
		if n > 4 {
			t.Errorf("%d requests within 1s from %s, want at most 4 (arrivals %v)", n, a, arrivals)
		}
	}
	if got, want := arrivals[len(arrivals)-1], 11*250*time.Millisecond; got < want-time.Millisecond {
		t.Errorf("last request at %s of fake time, want ≥ %s", got, want)
	}
}

func TestRunRetriesServerErrorsThenSucceeds(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	h := newHook(t, func(body string, n int) int {
		if strings.Contains(body, "mid.second") && n <= 2 {
			return 500
		}
		return 200
	})
	res := run(t, clock, "", "--url", h.URL(), "--backoff", "100ms", "testdata/meta")
	if res.code != ExitOK {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	want := []string{"mid.first", "mid.second", "mid.second", "mid.second", "mid.third", "read:mid.first"}
	if got := mids(t, h.received()); !slices.Equal(got, want) {
		t.Errorf("requests = %v, want %v", got, want)
	}
	if got, want := clock.Slept(), []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("backoff = %v, want %v", got, want)
	}
	for _, s := range []string{"sent 4/4 bodies", "retries:  2", "statuses: 200×4 500×2", "failed:   0"} {
		if !strings.Contains(res.stdout, s) {
			t.Errorf("summary lacks %q:\n%s", s, res.stdout)
		}
	}
}

func TestRunFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		args     []string
		requests int // requests for the failing body
		reason   string
	}{
		{name: "5xx retried until retries run out", status: 503, args: []string{"--retries", "2"}, requests: 3, reason: "HTTP 503: internal error (after 3 attempts)"},
		{name: "4xx not retried", status: 400, requests: 1, reason: "HTTP 400: internal error"},
		{name: "429 retried", status: 429, args: []string{"--retries", "1"}, requests: 2, reason: "HTTP 429: internal error (after 2 attempts)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHook(t, func(body string, n int) int {
				if strings.Contains(body, "mid.third") {
					return tc.status
				}
				return 200
			})
			args := append([]string{"--url", h.URL(), "testdata/meta"}, tc.args...)
			res := run(t, nil, "", args...)
			if res.code != ExitFailed {
				t.Fatalf("exit %d, want %d; stdout:\n%s", res.code, ExitFailed, res.stdout)
			}
			n := 0
			for _, m := range mids(t, h.received()) {
				if m == "mid.third" {
					n++
				}
			}
			if n != tc.requests {
				t.Errorf("failing body sent %d times, want %d", n, tc.requests)
			}
			// The other bodies are still delivered.
			if !strings.Contains(res.stdout, "sent 3/4 bodies (4/5 events)") || !strings.Contains(res.stdout, "failed:   1") {
				t.Errorf("summary:\n%s", res.stdout)
			}
			wantFailure := "testdata/meta/02-batch.ndjson:3 (round 1): " + tc.reason
			if !strings.Contains(res.stdout, wantFailure) {
				t.Errorf("summary lacks failure %q:\n%s", wantFailure, res.stdout)
			}
		})
	}
}

func TestRunTransportErrors(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	h := newHook(t, nil)
	h.onRequest = func() { <-block }
	t.Cleanup(func() { close(block) })
	res := run(t, nil, "", "--url", h.URL(), "--timeout", "20ms", "--retries", "1", "testdata/meta/sub/03-read.json")
	if res.code != ExitFailed {
		t.Fatalf("exit %d, want %d; stdout:\n%s", res.code, ExitFailed, res.stdout)
	}
	for _, s := range []string{"no answer within 20ms (after 2 attempts)", "statuses: error×2", "retries:  1"} {
		if !strings.Contains(res.stdout, s) {
			t.Errorf("summary lacks %q:\n%s", s, res.stdout)
		}
	}
}

func TestRunDryRunSendsNothing(t *testing.T) {
	t.Parallel()
	h := newHook(t, nil)
	res := run(t, nil, "", "--url", h.URL(), "--dry-run", "--repeat", "2", "testdata/meta")
	if res.code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
	}
	if n := len(h.received()) + h.badSig; n != 0 {
		t.Errorf("dry run sent %d requests", n)
	}
	raw, _ := os.ReadFile("testdata/meta/01-message.json")
	wantSig := sign([]byte(testSecret), raw)[:19]
	for _, s := range []string{
		"testdata/meta/01-message.json\t" + strconv.Itoa(len(raw)) + " B\t1 events\t" + wantSig + "…",
		"testdata/meta/02-batch.ndjson:1\t",
		"testdata/meta/02-batch.ndjson:3\t",
		"would POST 8 bodies (10 events,",
		"nothing sent",
	} {
		if !strings.Contains(res.stdout, s) {
			t.Errorf("dry run output lacks %q:\n%s", s, res.stdout)
		}
	}
}

func TestRunRewriteTimestamps(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	h := newHook(t, nil)
	res := run(t, clock, "", "--url", h.URL(), "--rewrite-timestamps", "testdata/meta")
	if res.code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
	}
	var stamps []int64
	for _, b := range h.received() {
		var w struct {
			Entry []struct {
				Messaging []struct{ Timestamp int64 } `json:"messaging"`
				Standby   []struct{ Timestamp int64 } `json:"standby"`
			} `json:"entry"`
		}
		if err := json.Unmarshal([]byte(b), &w); err != nil {
			t.Fatal(err)
		}
		for _, e := range w.Entry {
			for _, m := range append(e.Messaging, e.Standby...) {
				stamps = append(stamps, m.Timestamp)
			}
		}
	}
	now := clock.Now().UnixMilli()
	// Originally 0 s, 60 s, 61 s, 120 s and 180 s apart; the newest becomes now.
	want := []int64{now - 180_000, now - 120_000, now - 119_000, now - 60_000, now}
	if !slices.Equal(stamps, want) {
		t.Errorf("timestamps = %v, want %v", stamps, want)
	}
	if !strings.Contains(h.received()[0], "hello <there> & welcome") {
		t.Errorf("text was altered by re-serialisation: %s", h.received()[0])
	}
	if h.badSig != 0 {
		t.Errorf("%d rewritten bodies were not signed over the bytes sent", h.badSig)
	}
}

func TestRunBadInputSendsNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := "testdata/meta"
	badJSON := write("bad/x.json", `{"object":"instagram",`)
	badLine := write("lines.ndjson", `{"object":"instagram"}`+"\n"+`{"object":`+"\n")
	notObject := write("array.json", `[{"object":"instagram"}]`)
	emptyDir := filepath.Join(dir, "empty")
	if err := os.Mkdir(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
		env   bool
		want  string
	}{
		{name: "invalid JSON after a good input", args: []string{good, badJSON}, want: "bad/x.json: invalid JSON"},
		{name: "invalid NDJSON line", args: []string{badLine}, want: "lines.ndjson:2: invalid JSON"},
		{name: "not an object", args: []string{notObject}, want: "must be a JSON object"},
		{name: "missing file", args: []string{good, filepath.Join(dir, "nope.json")}, want: "nope.json: no such file"},
		{name: "empty directory", args: []string{emptyDir}, want: "no webhook bodies found"},
		{name: "invalid stdin", stdin: "{\"a\":1}\nnot json\n", args: []string{"-"}, want: "stdin:2: invalid JSON"},
		{name: "no inputs", args: nil, want: "no input given"},
		{name: "bad URL", args: []string{"--url", "localhost:3000/webhooks", good}, want: "--url must be an absolute http(s) URL"},
		{name: "bad repeat", args: []string{"--repeat", "0", good}, want: "--repeat must be at least 1"},
		{name: "unknown flag", args: []string{"--bogus", good}, want: "flag provided but not defined: -bogus"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHook(t, nil)
			res := run(t, nil, tc.stdin, append([]string{"--url", h.URL()}, tc.args...)...)
			if res.code != ExitUsage {
				t.Errorf("exit %d, want %d", res.code, ExitUsage)
			}
			if n := len(h.received()) + h.badSig; n != 0 {
				t.Errorf("%d requests sent on bad input", n)
			}
			if !strings.Contains(res.stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, res.stderr)
			}
		})
	}
}

func TestRunMissingSecret(t *testing.T) {
	t.Parallel()
	h := newHook(t, nil)
	var out, errOut strings.Builder
	cli := CLI{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	code := cli.Run(t.Context(), []string{"--url", h.URL(), "testdata/meta"})
	if code != ExitUsage || !strings.Contains(errOut.String(), "no app secret: set INSTAGRAM_APP_SECRET or pass --secret") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut.String())
	}
	if len(h.received())+h.badSig != 0 {
		t.Error("requests sent without a secret")
	}
	// A dry run needs no secret.
	code = cli.Run(t.Context(), []string{"--dry-run", "testdata/meta"})
	if code != ExitOK || !strings.Contains(out.String(), "unsigned (no secret)") {
		t.Errorf("dry run without secret: exit %d, stdout:\n%s", code, out.String())
	}
}

func TestRunSecretFlag(t *testing.T) {
	t.Parallel()
	h := newHook(t, nil)
	var out, errOut strings.Builder
	cli := CLI{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "wrong-secret" }}
	code := cli.Run(t.Context(), []string{"--secret", testSecret, "--url", h.URL(), "testdata/meta/sub/03-read.json"})
	if code != ExitOK || h.badSig != 0 || len(h.received()) != 1 {
		t.Errorf("exit %d, bad signatures %d, received %d", code, h.badSig, len(h.received()))
	}
	if strings.Contains(out.String()+errOut.String(), testSecret) {
		t.Error("the secret given as a flag appears in the output")
	}
}

func TestRunTerminalProgressBar(t *testing.T) {
	t.Parallel()
	h := newHook(t, nil)
	var out, errOut strings.Builder
	cli := CLI{Stdout: &out, Stderr: &errOut, Terminal: true, Getenv: func(string) string { return testSecret }}
	if code := cli.Run(t.Context(), []string{"--url", h.URL(), "testdata/meta"}); code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(errOut.String(), "\r\x1b[K[##############################] 4/4  failed 0  retries 0\n") {
		t.Errorf("no finished progress bar on stderr: %q", errOut.String())
	}
	if strings.Contains(errOut.String(), "] ok ") {
		t.Errorf("plain lines printed on a terminal: %q", errOut.String())
	}
	if strings.Contains(out.String()+errOut.String(), testSecret) {
		t.Error("secret in output")
	}
}

func TestHelpDocumentsEveryOption(t *testing.T) {
	t.Parallel()
	res := run(t, nil, "", "--help")
	if res.code != ExitOK {
		t.Fatalf("exit %d", res.code)
	}
	n := 0
	newFlagSet(&Config{}).VisitAll(func(f *flag.Flag) {
		n++
		if !strings.Contains(res.stdout, "  --"+f.Name+" ") {
			t.Errorf("--help does not document --%s", f.Name)
		}
	})
	if n < 13 {
		t.Errorf("only %d flags defined", n)
	}
	for _, s := range []string{"Examples:", "INSTAGRAM_APP_SECRET", "Exit status:"} {
		if !strings.Contains(res.stdout, s) {
			t.Errorf("--help lacks %q", s)
		}
	}
}
