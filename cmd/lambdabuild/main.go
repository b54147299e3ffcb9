// Command lambdabuild builds function bootstraps with the deploy flags of local/localrun, for
// Lambda (linux and the template's architecture) or, with -host, for this machine. FUNCTION
// is a logical id or folder name; none means every function of template.yaml.
//
//	go run ./cmd/lambdabuild -host -o bin                                   # make build
//	go run ./cmd/lambdabuild -bootstrap "$ARTIFACTS_DIR/bootstrap" WebhookFunction  # sam build
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/iginbox/iginbox/local/localrun"
	"github.com/iginbox/iginbox/local/samtemplate"
)

func main() {
	dir := flag.String("o", "", "write <dir>/<name>/bootstrap for each function")
	bootstrap := flag.String("bootstrap", "", "write this one file (exactly one FUNCTION)")
	host := flag.Bool("host", false, "build for this machine instead of Lambda")
	flag.Parse()
	if (*dir == "") == (*bootstrap == "") || (*bootstrap != "" && flag.NArg() != 1) {
		fmt.Fprintln(os.Stderr, "usage: lambdabuild (-o DIR | -bootstrap FILE FUNCTION) [-host] [FUNCTION...]")
		os.Exit(2)
	}
	if err := build(*dir, *bootstrap, *host, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "lambdabuild:", err)
		os.Exit(1)
	}
}

func build(dir, bootstrap string, host bool, names []string) error {
	ctx := context.Background()
	tmpl, err := samtemplate.LoadRepo()
	if err != nil {
		return err
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := samtemplate.FindRoot(wd)
	if err != nil {
		return err
	}
	fns, err := tmpl.Functions()
	if err != nil {
		return err
	}
	if len(names) > 0 {
		fns = fns[:0]
		for _, n := range names {
			f, err := tmpl.FindFunction(n)
			if err != nil {
				return err
			}
			fns = append(fns, f)
		}
	}
	if bootstrap != "" {
		out, err := filepath.Abs(bootstrap)
		if err != nil {
			return err
		}
		return localrun.BuildFunction(ctx, root, fns[0], out, host)
	}
	out, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	bins, err := localrun.BuildAll(ctx, root, out, fns, host, nil)
	for _, f := range fns {
		if b, ok := bins[f.LogicalID]; ok {
			fmt.Println("built", b)
		}
	}
	return err
}
