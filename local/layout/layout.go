// Package layout checks the repository's boundaries: the Lambda functions under functions/
// deploy exactly the packages under shared/, nothing that only runs on a developer's machine
// (everything under local/ and cmd/) reaches a function, and only the mains build the
// DynamoDB adapter (shared/store): the packages under shared/ speak shared/domain.
package layout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
)

// Package is what the check needs to know of one Go package.
type Package struct {
	ImportPath string
	// Imports are the package's non-test imports.
	Imports []string
}

// Tree is the module's view used by Check.
type Tree struct {
	Module string
	// Deps is every package reached by the functions (go list -deps ./functions/...).
	Deps []string
	// Packages are the module's own packages with their non-test imports.
	Packages []Package
}

// Check returns one line per violation of the deploy boundary, sorted; none when it holds:
//   - a package under functions/ or shared/ imports a package under local/ or cmd/;
//   - a function reaches a module package outside functions/ and shared/;
//   - a package under shared/ is reached by no function;
//   - a package under shared/ other than shared/store imports shared/store (the adapter
//     imports the domain, never the other way round; mains and tests may import it).
func Check(t Tree) []string {
	prefix := func(dir string) string { return t.Module + "/" + dir + "/" }
	deployed := func(p string) bool {
		return strings.HasPrefix(p, prefix("functions")) || strings.HasPrefix(p, prefix("shared"))
	}
	var out []string
	for _, p := range t.Packages {
		if !deployed(p.ImportPath) {
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, prefix("local")) || strings.HasPrefix(imp, prefix("cmd")) {
				out = append(out, fmt.Sprintf("%s imports local tooling %s", p.ImportPath, imp))
			}
			if imp == t.Module+"/shared/store" && strings.HasPrefix(p.ImportPath, prefix("shared")) {
				out = append(out, fmt.Sprintf("%s imports the store adapter %s (declare an interface over shared/domain types instead)", p.ImportPath, imp))
			}
		}
	}
	reached := map[string]bool{}
	for _, d := range t.Deps {
		reached[d] = true
		if strings.HasPrefix(d, t.Module+"/") && !deployed(d) {
			out = append(out, fmt.Sprintf("a function reaches %s, which is outside functions/ and shared/", d))
		}
	}
	for _, p := range t.Packages {
		if strings.HasPrefix(p.ImportPath, prefix("shared")) && !reached[p.ImportPath] {
			out = append(out, fmt.Sprintf("%s is under shared/ but no function imports it (move it under local/)", p.ImportPath))
		}
	}
	sort.Strings(out)
	return out
}

// Load reads the tree of the module in dir with `go list`.
func Load(ctx context.Context, dir string) (Tree, error) {
	var t Tree
	mod, err := goList(ctx, dir, "-m")
	if err != nil {
		return t, err
	}
	t.Module = strings.TrimSpace(string(mod))
	deps, err := goList(ctx, dir, "-deps", "./functions/...")
	if err != nil {
		return t, err
	}
	t.Deps = strings.Fields(string(deps))
	all, err := goList(ctx, dir, "-json=ImportPath,Imports", "./...")
	if err != nil {
		return t, err
	}
	dec := json.NewDecoder(bytes.NewReader(all))
	for {
		var p Package
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return t, fmt.Errorf("decode go list: %w", err)
		}
		t.Packages = append(t.Packages, p)
	}
	return t, nil
}

func goList(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"list"}, args...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}
