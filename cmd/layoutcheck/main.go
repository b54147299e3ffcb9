// Command layoutcheck fails when the deploy boundary is broken: a function or a shared package
// imports local tooling, a package under shared/ is deployed by no function, or a package under
// shared/ other than the store adapter imports shared/store (make lint).
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/iginbox/iginbox/local/layout"
)

func main() {
	tree, err := layout.Load(context.Background(), ".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "layoutcheck:", err)
		os.Exit(2)
	}
	violations := layout.Check(tree)
	for _, v := range violations {
		fmt.Fprintln(os.Stderr, "layoutcheck:", v)
	}
	if len(violations) > 0 {
		os.Exit(1)
	}
	own := 0
	for _, d := range tree.Deps {
		if strings.HasPrefix(d, tree.Module+"/") {
			own++
		}
	}
	fmt.Printf("layoutcheck: functions/ deploy %d packages of %s, all under functions/ and shared/\n", own, tree.Module)
}
