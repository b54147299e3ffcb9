package localrun_test

import (
	"debug/elf"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iginbox/iginbox/local/samtemplate"
)

// TestSAMBuildCarriesDeployFlags builds every function the way sam build does (make
// build-<LogicalId> ARTIFACTS_DIR=...) and checks the deploy flags in the bootstrap.
func TestSAMBuildCarriesDeployFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles every function")
	}
	tmpl, err := samtemplate.LoadRepo()
	if err != nil {
		t.Fatal(err)
	}
	fns, err := tmpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fns {
		t.Run(f.LogicalID, func(t *testing.T) {
			dir := t.TempDir()
			make := exec.Command("make", "-s", "build-"+f.LogicalID, "ARTIFACTS_DIR="+dir)
			make.Dir = root
			if out, err := make.CombinedOutput(); err != nil {
				t.Fatalf("make build-%s: %v\n%s", f.LogicalID, err, out)
			}
			bin := filepath.Join(dir, "bootstrap")
			info, err := exec.Command("go", "version", "-m", bin).Output()
			if err != nil {
				t.Fatalf("go version -m: %v", err)
			}
			// go version -m records every flag but -ldflags, which -trimpath hides: the
			// stripped symbol table (-s) and DWARF (-w) are checked in the ELF file.
			for _, want := range []string{"-tags=lambda.norpc", "-trimpath=true", "CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + f.GOARCH()} {
				if !strings.Contains(string(info), "\tbuild\t"+want+"\n") {
					t.Errorf("bootstrap lacks build setting %s:\n%s", want, info)
				}
			}
			ef, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer ef.Close()
			for _, s := range ef.Sections {
				if s.Name == ".symtab" || strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
					t.Errorf("bootstrap has section %s: not built with -ldflags=-s -w", s.Name)
				}
			}
		})
	}
}
