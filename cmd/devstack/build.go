package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/iginbox/iginbox/shared/samtemplate"
)

// BuildFlags are the deploy build flags (style.md): no RPC, reproducible paths, stripped.
var BuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}

// BuildAll builds ./<CodeUri> of every function into outDir/<name>/bootstrap for the host, in
// parallel, and returns the paths by logical id.
func BuildAll(ctx context.Context, root, outDir string, fns []samtemplate.Function) (map[string]string, error) {
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
			err := goBuild(ctx, root, "./"+f.Dir(), out, nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("build %s: %w", f.LogicalID, err))
				return
			}
			bins[f.LogicalID] = out
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return bins, nil
}

// goBuild runs go build with BuildFlags and CGO_ENABLED=0 (plus env) in root.
func goBuild(ctx context.Context, root, pkg, out string, env []string) error {
	args := append([]string{"build"}, BuildFlags...)
	args = append(args, "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, buf.String())
	}
	return nil
}
