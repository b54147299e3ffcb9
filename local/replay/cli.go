package replay

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/iginbox/iginbox/shared/archive"
)

// Exit statuses of the replay command.
const (
	ExitOK      = 0 // every body delivered (or dry run)
	ExitFailed  = 1 // at least one body failed after its retries, or the run was interrupted
	ExitUsage   = 2 // bad flags or bad input: nothing was sent
	DefaultURL  = "http://127.0.0.1:3000/webhooks/instagram"
	SecretEnv   = "INSTAGRAM_APP_SECRET"
	maxParallel = 256
)

const usageText = `Usage: replay [options] <input>...
       replay [options] --from-archive --since <time> [--until <time>] [--account ID] [--table NAME]

Signs recorded Instagram webhook bodies with the app secret (X-Hub-Signature-256, HMAC-SHA256
over the exact bytes sent) and POSTs them to a webhook URL, local or deployed, as Meta would
deliver them. Every input is read and checked to be JSON before anything is sent: on bad input
nothing is sent and the exit status is 2.

Inputs (in the order given):
  FILE.json            one webhook body (sent byte for byte)
  FILE.ndjson|.jsonl   one body per line; blank lines are skipped
  DIR                  every *.json and *.ndjson file below DIR, in sorted path order
  -                    stdin: one JSON body, or NDJSON
  --from-archive       instead of inputs: the bodies the webhook function archived
                       (WEBHOOK_ARCHIVE_DAYS), byte for byte, oldest first

Archive options (with --from-archive; read through the AWS SDK, which honours
AWS_ENDPOINT_URL_DYNAMODB, AWS_PROFILE and AWS_REGION; a loopback endpoint without
credentials, as with make dev, uses the emulator's test credentials):
  --since T              first receive time: RFC 3339 (2026-11-22T10:00:00Z) or a duration
                         ago (90m, 6h); required
  --until T              last receive time, same forms (default: now)
  --account ID           only bodies carrying an event of this Instagram account id
  --table NAME           the table (default: $` + TableEnv + `, else ` + DefaultTable + `, make dev's)

Options:
  --url URL              webhook URL to POST to (default ` + DefaultURL + `)
  --secret SECRET        app secret to sign with (default: $` + SecretEnv + `; prefer the
                         environment: a flag is visible in the process list). Never printed.
  --repeat N             deliver everything N times, as Meta's redeliveries do (default 1)
  --shuffle              deliver in random order (across repeats too)
  --seed N               seed for --shuffle, to reproduce an order (default: random, printed)
  --concurrency N        bodies in flight at once (default 1: strictly in order)
  --rate R               at most R bodies per second, token bucket (default 0: unlimited)
  --timeout D            timeout of each request (default 10s)
  --retries N            retries of a body after a 5xx, 429 or transport error, with
                         exponential backoff, like Meta (default 3; 4xx is never retried)
  --backoff D            wait before the first retry, doubled for each later one up to 10s
                         (default 500ms)
  --dry-run              print what would be sent (source, size, events, signature prefix)
                         and send nothing
  --rewrite-timestamps   shift every Meta timestamp (entry time, messaging/standby
                         timestamp, changes value timestamp; ms and s alike) so that the newest
                         becomes now, keeping the gaps; bodies are re-serialised in this mode
  --quiet                no progress output; only the summary and errors
  -h, --help             show this help

Output: a progress bar on stderr when it is a terminal, one line per body otherwise; then a
summary on stdout: bodies and events sent, status counts, retries, latency p50/p95/p99 and
every failure with its reason.

Exit status: 0 all delivered, 1 a body failed after its retries (or interrupted),
2 bad options or input (nothing sent).

Examples:
  # everything recorded, to the local stack (make dev)
  INSTAGRAM_APP_SECRET=... replay events/meta
  # the same through make (REPLAY_ARGS defaults to events/meta)
  make replay REPLAY_ARGS="--repeat 3 --shuffle events/meta"
  # Meta-style redelivery storm: each body 3 times, random but reproducible order
  replay --repeat 3 --shuffle --seed 42 --concurrency 4 events/meta
  # a deployed API, gently, with timestamps moved to now for 24-hour-window demos
  replay --url https://abc.execute-api.eu-west-1.amazonaws.com/webhooks/instagram \
         --rate 5 --rewrite-timestamps events/meta/conversation.ndjson
  # one body from a pipe; check first without sending
  cat body.json | replay --dry-run -
  # after a processor fix: re-deliver what the local stack received in the last 2 hours
  AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:<DDB_PORT> replay --from-archive --since 2h
  # a deployed stack: one account's bodies of a time window
  TABLE_NAME=<stack TableName output> replay --from-archive --since 2026-11-22T08:00:00Z \
         --until 2026-11-22T12:00:00Z --account 17841400000000001 --url https://.../webhooks/instagram
`

// Config is the replay command's configuration, from flags and the environment.
type Config struct {
	Inputs            []string
	URL               string
	Secret            string
	Repeat            int
	Shuffle           bool
	Seed              uint64
	SeedSet           bool
	Concurrency       int
	Rate              float64
	Timeout           time.Duration
	Retries           int
	Backoff           time.Duration
	DryRun            bool
	RewriteTimestamps bool
	Quiet             bool
	// --from-archive and its selection (validated when the command runs: durations are
	// relative to the CLI's clock).
	FromArchive  bool
	Since, Until string
	Account      string
	Table        string
}

// errHelp asks for the usage text.
var errHelp = errors.New("help requested")

// newFlagSet defines every option of the command, bound to c.
func newFlagSet(c *Config) *flag.FlagSet {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&c.URL, "url", DefaultURL, "")
	fs.StringVar(&c.Secret, "secret", "", "")
	fs.IntVar(&c.Repeat, "repeat", 1, "")
	fs.BoolVar(&c.Shuffle, "shuffle", false, "")
	fs.Uint64Var(&c.Seed, "seed", 0, "")
	fs.IntVar(&c.Concurrency, "concurrency", 1, "")
	fs.Float64Var(&c.Rate, "rate", 0, "")
	fs.DurationVar(&c.Timeout, "timeout", DefaultTimeout, "")
	fs.IntVar(&c.Retries, "retries", 3, "")
	fs.DurationVar(&c.Backoff, "backoff", DefaultBackoff, "")
	fs.BoolVar(&c.DryRun, "dry-run", false, "")
	fs.BoolVar(&c.RewriteTimestamps, "rewrite-timestamps", false, "")
	fs.BoolVar(&c.Quiet, "quiet", false, "")
	fs.BoolVar(&c.FromArchive, "from-archive", false, "")
	fs.StringVar(&c.Since, "since", "", "")
	fs.StringVar(&c.Until, "until", "", "")
	fs.StringVar(&c.Account, "account", "", "")
	fs.StringVar(&c.Table, "table", "", "")
	return fs
}

// ParseConfig parses the command line (flags and inputs may be mixed) and the environment.
func ParseConfig(args []string, getenv func(string) string) (Config, error) {
	c := Config{}
	fs := newFlagSet(&c)
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return Config{}, errHelp
			}
			return Config{}, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		c.Inputs = append(c.Inputs, rest[0])
		args = rest[1:]
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "seed" {
			c.SeedSet = true
		}
	})
	if c.Secret == "" && getenv != nil {
		c.Secret = getenv(SecretEnv)
	}
	if c.Table == "" && getenv != nil {
		c.Table = getenv(TableEnv)
	}
	if c.Table == "" {
		c.Table = DefaultTable
	}
	return c, c.validate()
}

func (c Config) validate() error {
	var errs []error
	if len(c.Inputs) == 0 && !c.FromArchive {
		errs = append(errs, errors.New("no input given (files, directories or - for stdin, or --from-archive)"))
	}
	if !c.FromArchive && (c.Since != "" || c.Until != "" || c.Account != "") {
		errs = append(errs, errors.New("--since, --until and --account select archived bodies: add --from-archive"))
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("--url must be an absolute http(s) URL, got %q", c.URL))
	}
	if c.Secret == "" && !c.DryRun {
		errs = append(errs, fmt.Errorf("no app secret: set %s or pass --secret", SecretEnv))
	}
	if c.Repeat < 1 {
		errs = append(errs, fmt.Errorf("--repeat must be at least 1, got %d", c.Repeat))
	}
	if c.Concurrency < 1 || c.Concurrency > maxParallel {
		errs = append(errs, fmt.Errorf("--concurrency must be between 1 and %d, got %d", maxParallel, c.Concurrency))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("--rate must not be negative, got %g", c.Rate))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout must be positive, got %s", c.Timeout))
	}
	if c.Retries < 0 {
		errs = append(errs, fmt.Errorf("--retries must not be negative, got %d", c.Retries))
	}
	if c.Backoff < 0 {
		errs = append(errs, fmt.Errorf("--backoff must not be negative, got %s", c.Backoff))
	}
	return errors.Join(errs...)
}

// CLI runs the replay command with its streams and clocks, so that it can be tested.
type CLI struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Terminal draws a progress bar on Stderr instead of plain lines.
	Terminal bool
	// Now is the clock for --rewrite-timestamps and the rate limiter (nil: time.Now).
	Now func() time.Time
	// Sleep waits for the rate limiter and between retries (nil: a real sleep).
	Sleep func(context.Context, time.Duration) error
	// Client sends the requests (nil: a default client).
	Client *http.Client
	// Archive returns the DynamoDB client --from-archive reads with (cmd/replay builds it from
	// the standard AWS configuration; tests inject the emulator's).
	Archive func(ctx context.Context) (archive.QueryAPI, error)
}

// Run runs the command and returns its exit status.
func (c CLI) Run(ctx context.Context, args []string) int {
	cfg, err := ParseConfig(args, c.Getenv)
	if errors.Is(err, errHelp) {
		fmt.Fprint(c.Stdout, usageText)
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(c.Stderr, "replay: %v\nRun replay --help for usage.\n", err)
		return ExitUsage
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	status := func(format string, a ...any) {
		if !cfg.Quiet {
			fmt.Fprintf(c.Stderr, format+"\n", a...)
		}
	}

	var bodies []Body
	if cfg.FromArchive {
		bodies, err = c.fromArchive(ctx, cfg, now(), status)
	} else {
		bodies, err = Load(cfg.Inputs, c.Stdin)
	}
	if err != nil {
		fmt.Fprintf(c.Stderr, "replay: %v\nNothing was sent.\n", err)
		return ExitUsage
	}
	if cfg.RewriteTimestamps {
		shift, err := RewriteTimestamps(bodies, now())
		if err != nil {
			fmt.Fprintf(c.Stderr, "replay: rewrite timestamps: %v\nNothing was sent.\n", err)
			return ExitUsage
		}
		status("timestamps shifted by %s (newest is now)", shift.Round(time.Second))
	}
	if cfg.Shuffle && !cfg.SeedSet {
		cfg.Seed = rand.Uint64()
	}
	plan := Plan(bodies, cfg.Repeat, cfg.Shuffle, cfg.Seed)
	if cfg.Shuffle {
		status("shuffled with --seed %d", cfg.Seed)
	}
	target := redact(cfg.URL)
	if cfg.DryRun {
		c.dryRun(cfg, plan, target)
		return ExitOK
	}

	sender := &Sender{
		URL:         cfg.URL,
		Secret:      []byte(cfg.Secret),
		Client:      c.Client,
		Timeout:     cfg.Timeout,
		Retries:     cfg.Retries,
		Backoff:     cfg.Backoff,
		Concurrency: cfg.Concurrency,
		Sleep:       c.Sleep,
	}
	if cfg.Rate > 0 {
		sender.Limiter = NewLimiter(cfg.Rate, 1, now, c.Sleep)
	}
	switch {
	case cfg.Quiet:
	case c.Terminal:
		sender.Progress = &BarProgress{W: c.Stderr}
	default:
		sender.Progress = &LineProgress{W: c.Stderr}
	}
	status("replaying %d bodies to %s", len(plan), target)
	start := time.Now()
	results := sender.Send(ctx, plan)
	sum := Summarize(results, time.Since(start))
	sum.Write(c.Stdout)
	if sum.Failed > 0 {
		return ExitFailed
	}
	return ExitOK
}

func (c CLI) fromArchive(ctx context.Context, cfg Config, now time.Time, status func(string, ...any)) ([]Body, error) {
	o, err := cfg.archiveOptions(now)
	if err != nil {
		return nil, err
	}
	if c.Archive == nil {
		return nil, errors.New("--from-archive: no DynamoDB client configured")
	}
	db, err := c.Archive(ctx)
	if err != nil {
		return nil, err
	}
	bodies, skipped, err := loadArchive(ctx, db, o)
	if err != nil {
		return nil, err
	}
	status("read %d archived bodies from %s (%s .. %s)", len(bodies), o.Table,
		o.Since.UTC().Format(time.RFC3339), o.Until.UTC().Format(time.RFC3339))
	if skipped > 0 {
		status("skipped %d archived bodies whose signature did not verify when received", skipped)
	}
	return bodies, nil
}

func (c CLI) dryRun(cfg Config, plan []Delivery, target string) {
	events, size := 0, 0
	for _, d := range plan {
		events += d.Body.Events
		size += len(d.Body.Data)
		sig := "unsigned (no secret)"
		if cfg.Secret != "" {
			s := sign([]byte(cfg.Secret), d.Body.Data)
			sig = s[:len("sha256=")+12] + "…"
		}
		fmt.Fprintf(c.Stdout, "%s\t%d B\t%d events\t%s\n", d.Body.Source, len(d.Body.Data), d.Body.Events, sig)
	}
	fmt.Fprintf(c.Stdout, "dry run: would POST %d bodies (%d events, %d B) to %s; nothing sent\n",
		len(plan), events, size, target)
}

// redact hides credentials a URL may carry.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}
