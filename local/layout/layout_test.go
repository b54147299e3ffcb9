package layout

import (
	"context"
	"strings"
	"testing"
)

func TestCheckFindsEveryKindOfViolation(t *testing.T) {
	t.Parallel()
	const m = "example.com/app"
	tree := Tree{
		Module: m,
		Deps:   []string{m + "/functions/api", m + "/shared/api", m + "/shared/store", m + "/shared/domain", m + "/local/sim", "fmt"},
		Packages: []Package{
			{ImportPath: m + "/functions/api", Imports: []string{m + "/shared/api"}},
			{ImportPath: m + "/shared/api", Imports: []string{m + "/local/sim", m + "/shared/store", "fmt"}},
			{ImportPath: m + "/shared/store", Imports: []string{m + "/shared/domain"}},
			{ImportPath: m + "/shared/domain"},
			{ImportPath: m + "/shared/orphan"},
			{ImportPath: m + "/local/sim", Imports: []string{m + "/shared/api"}},
			{ImportPath: m + "/cmd/tool", Imports: []string{m + "/local/sim"}},
		},
	}
	got := strings.Join(Check(tree), "\n")
	for _, want := range []string{
		"shared/api imports local tooling example.com/app/local/sim",
		"a function reaches example.com/app/local/sim",
		"shared/orphan is under shared/ but no function imports it",
		"shared/api imports the store adapter example.com/app/shared/store",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("violations miss %q:\n%s", want, got)
		}
	}
	if n := len(Check(tree)); n != 4 {
		t.Errorf("%d violations, want 4 (local and cmd may import anything):\n%s", n, got)
	}
}

func TestCheckAcceptsCleanTree(t *testing.T) {
	t.Parallel()
	const m = "example.com/app"
	tree := Tree{
		Module: m,
		Deps:   []string{m + "/functions/api", m + "/shared/api", m + "/shared/store", m + "/shared/domain", "fmt"},
		Packages: []Package{
			{ImportPath: m + "/functions/api", Imports: []string{m + "/shared/api", m + "/shared/store"}},
			{ImportPath: m + "/shared/api", Imports: []string{m + "/shared/domain", "fmt"}},
			{ImportPath: m + "/shared/store", Imports: []string{m + "/shared/domain"}},
			{ImportPath: m + "/shared/domain"},
			{ImportPath: m + "/local/sim", Imports: []string{m + "/shared/api", m + "/shared/store"}},
		},
	}
	if v := Check(tree); len(v) != 0 {
		t.Fatalf("clean tree reported: %v", v)
	}
}

// TestRepositoryLayout is the check itself, on this repository.
func TestRepositoryLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	tree, err := Load(context.Background(), "../..")
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.Deps) == 0 || len(tree.Packages) == 0 {
		t.Fatalf("go list found nothing: %+v", tree)
	}
	for _, v := range Check(tree) {
		t.Error(v)
	}
}
