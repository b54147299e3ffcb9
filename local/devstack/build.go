package devstack

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/iginbox/iginbox/local/localrun"
	"github.com/iginbox/iginbox/local/samtemplate"
)

// BuildFlags are the deploy build flags (style.md): no RPC, reproducible paths, stripped.
var BuildFlags = localrun.BuildFlags

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
			err := localrun.GoBuild(ctx, root, "./"+f.Dir(), out, nil)
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
