package localrun

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/iginbox/iginbox/local/samtemplate"
)

// BuildFlags are the deploy build flags, the only definition of them (buildflags.txt, one flag a
// line, which the Makefile reads too): every bootstrap (make build, make build-lambda, make
// coldstart, sam build through the Makefile, the local stack and make invoke) is built with
// them and CGO_ENABLED=0, and so is the local stack's own binary, so that the bootstraps it
// builds next reuse its compiled dependencies. lambda.norpc leaves out the RPC runtime that
// provided.al2023 never uses; -trimpath makes builds reproducible; -s -w strips symbols.
var BuildFlags = flagLines(buildFlagsFile)

//go:embed buildflags.txt
var buildFlagsFile string

func flagLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// BuildFunction builds the function's bootstrap into out: for Lambda (linux and the
// template's architecture) or, with host, for this machine.
func BuildFunction(ctx context.Context, root string, f samtemplate.Function, out string, host bool) error {
	env := []string{"GOOS=linux", "GOARCH=" + f.GOARCH()}
	if host {
		env = []string{"GOOS=" + runtime.GOOS, "GOARCH=" + runtime.GOARCH}
	}
	if err := GoBuild(ctx, root, "./"+f.Dir(), out, env); err != nil {
		return fmt.Errorf("build %s: %w", f.LogicalID, err)
	}
	return nil
}

// BuildAll builds every function into outDir/<name>/bootstrap (see BuildFunction), in
// parallel, and returns the paths by logical id. onBuilt, when not nil, is called after each
// successful build with the time it took (progress lines).
func BuildAll(ctx context.Context, root, outDir string, fns []samtemplate.Function, host bool, onBuilt func(f samtemplate.Function, took time.Duration)) (map[string]string, error) {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
		bins = map[string]string{}
	)
	for _, f := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := filepath.Join(outDir, f.Name(), "bootstrap")
			t0 := time.Now()
			err := BuildFunction(ctx, root, f, out, host)
			if err == nil && onBuilt != nil {
				onBuilt(f, time.Since(t0))
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			bins[f.LogicalID] = out
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return bins, nil
}

// GoBuild runs go build with BuildFlags and CGO_ENABLED=0 (plus env) in root.
func GoBuild(ctx context.Context, root, pkg, out string, env []string) error {
	args := append([]string{"build"}, BuildFlags...)
	args = append(args, "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}
