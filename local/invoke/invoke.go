// Package invoke is `make invoke FN=<name> EVENT=events/<file>`: `sam local invoke` without
// Docker. It builds the function's bootstrap for this machine (deploy flags), uses the
// emulators at AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SQS when both are set (a running
// `make dev` prints them) or starts a private pair for the run, creates the template's table
// and queues there if missing, runs the real bootstrap behind the local Lambda Runtime API with
// the template's environment resolved as `make dev` does, sends it the event once and prints
// the response (pretty JSON) on stdout and the function's logs on stderr. The exit status is
// 1 when the function reports an error, 2 for bad usage.
//
//	go run ./cmd/invoke -fn webhook -event events/apigw/webhook-verify.json
package invoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/iginbox/iginbox/local/emulator"
	"github.com/iginbox/iginbox/local/eventbus"
	"github.com/iginbox/iginbox/local/localrun"
	"github.com/iginbox/iginbox/local/runtimeapi"
	"github.com/iginbox/iginbox/local/samtemplate"
)

// Exit statuses.
const (
	exitOK       = 0
	exitFunction = 1 // the function (or its sandbox) reported an error, or setup failed
	exitUsage    = 2
)

// Run is the command, with its streams and environment; it returns the exit status.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fn := fs.String("fn", "", "function: its folder name (webhook) or logical id (WebhookFunction)")
	eventPath := fs.String("event", "", "event file (events/...); - for stdin")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: invoke -fn <name> -event <file>   (make invoke FN=<name> EVENT=events/<file>)")
		fmt.Fprintln(stderr, "Runs the function's real bootstrap once with the event, against the local emulators.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *fn == "" || *eventPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	wd, err := os.Getwd()
	if err != nil {
		return fail(stderr, exitFunction, err)
	}
	root, err := samtemplate.FindRoot(wd)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	tmpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	f, err := tmpl.FindFunction(*fn)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	payload, err := readEvent(*eventPath, root)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}

	endpoints, stopEmulators, err := emulators(ctx, root, stderr, getenv)
	if err != nil {
		return fail(stderr, exitFunction, err)
	}
	if f.Name() == "processor" && getenv("AWS_ENDPOINT_URL_DYNAMODB") == "" {
		fmt.Fprintln(stderr, "invoke: note: the processor stores webhook events only for a connected channel, and these"+
			" private emulators hold none, so it will log \"event for an account with no connected channel ignored\"."+
			" To see events stored, run `make dev` (it connects the dev channel 17841400000000001 of the events/ fixtures)"+
			" and export the AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SQS lines of its banner first.")
	}
	defer stopEmulators()
	awsCfg, err := emulator.AWSConfig(ctx)
	if err != nil {
		return fail(stderr, exitFunction, err)
	}
	db, sq := endpoints.Clients(awsCfg)

	params := localrun.ResolveParams(tmpl, getenv, "http://127.0.0.1:"+nonEmpty(getenv("PORT"), "3000"), "")
	prov, err := samtemplate.Provision(ctx, db, sq, tmpl, samtemplate.ProvisionOptions{Params: map[string]string{"Stage": params["Stage"].Value}})
	if err != nil {
		return fail(stderr, exitFunction, fmt.Errorf("create table and queues: %w", err))
	}
	bin := filepath.Join(root, ".dev", "bin", f.Name(), "bootstrap")
	fmt.Fprintf(stderr, "invoke: building %s (%s)\n", f.LogicalID, f.Dir())
	if err := localrun.BuildFunction(ctx, root, f, bin, true); err != nil {
		return fail(stderr, exitFunction, err)
	}
	resolver := &samtemplate.Resolver{Template: tmpl, Params: localrun.ParamValues(params), Resource: localrun.Resources(tmpl, prov)}
	sec, err := localrun.StartSecrets(resolver)
	if err != nil {
		return fail(stderr, exitFunction, err)
	}
	defer sec.Close()
	// The publisher puts events on EventBridge: a local bus takes them, they are printed below.
	schemas, err := eventbus.LoadSchemas(filepath.Join(root, "docs", "events"))
	if err != nil {
		return fail(stderr, exitFunction, err)
	}
	bus, err := eventbus.Start(eventbus.Options{Validate: schemas.Validate})
	if err != nil {
		return fail(stderr, exitFunction, err)
	}
	defer bus.Stop()
	env, err := localrun.FunctionEnv(resolver, f, append(append(endpoints.Env(), sec.Env()...), bus.Env()), "")
	if err != nil {
		return fail(stderr, exitFunction, fmt.Errorf("environment of %s: %w", f.LogicalID, err))
	}
	in, err := runtimeapi.Start(ctx, runtimeapi.Config{
		Name:      "iginbox-local-" + f.Name(),
		Bootstrap: bin,
		Env:       env,
		Output:    stderr,
		Timeout:   time.Duration(f.Timeout) * time.Second,
		MemoryMB:  f.MemorySize,
	})
	if err != nil {
		return fail(stderr, exitFunction, fmt.Errorf("start %s: %w", f.LogicalID, err))
	}
	out, err := in.Invoke(ctx, payload)
	in.Stop()
	if err != nil {
		var fe *runtimeapi.FunctionError
		if errors.As(err, &fe) {
			fmt.Fprintf(stderr, "invoke: %s returned an error: %s\n", f.LogicalID, fe.Error())
			_, _ = stdout.Write(append(pretty(mustJSON(fe)), '\n'))
			return exitFunction
		}
		return fail(stderr, exitFunction, fmt.Errorf("invoke %s: %w", f.LogicalID, err))
	}
	_, _ = stdout.Write(append(pretty(out), '\n'))
	if evs := bus.Events("", time.Time{}); len(evs) > 0 {
		fmt.Fprintf(stderr, "invoke: %d events put on the local bus:\n", len(evs))
		for _, e := range evs {
			fmt.Fprintf(stderr, "%s\n", mustJSON(e))
		}
	}
	for _, err := range bus.SchemaErrors() {
		fmt.Fprintf(stderr, "invoke: event does not match its schema: %v\n", err)
	}
	return exitOK
}

// readEvent reads the event (relative to the working directory, else to the repository root)
// and requires JSON.
func readEvent(path, root string) ([]byte, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) && !filepath.IsAbs(path) {
			b, err = os.ReadFile(filepath.Join(root, path))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read event: %w", err)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("event %s is not JSON", path)
	}
	return b, nil
}

// emulators returns the emulators to use: AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SQS
// when both are set, else a private pair started now (and stopped by the returned function).
func emulators(ctx context.Context, root string, stderr io.Writer, getenv func(string) string) (*emulator.Stack, func(), error) {
	ddb, sqsURL := getenv("AWS_ENDPOINT_URL_DYNAMODB"), getenv("AWS_ENDPOINT_URL_SQS")
	if ddb != "" && sqsURL != "" {
		fmt.Fprintf(stderr, "invoke: using the emulators at %s (DynamoDB) and %s (SQS)\n", ddb, sqsURL)
		return &emulator.Stack{DynamoDBURL: ddb, SQSURL: sqsURL}, func() {}, nil
	}
	fmt.Fprintln(stderr, "invoke: starting private emulators for this run (to reuse a running `make dev`,"+
		" export the AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SQS lines of its banner)")
	s, err := emulator.Start(ctx, emulator.Options{ToolsDir: filepath.Join(root, "local", "tools")})
	if err != nil {
		return nil, nil, err
	}
	return s, func() { _ = s.Stop() }, nil
}

// pretty indents JSON; anything else is returned as is.
func pretty(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return b
	}
	return buf.Bytes()
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func fail(stderr io.Writer, code int, err error) int {
	fmt.Fprintln(stderr, "invoke:", err)
	return code
}

func nonEmpty(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
