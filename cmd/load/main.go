// Command load is `make load`: the load scenario of package local/load.
package main

import (
	"fmt"
	"os"

	"github.com/iginbox/iginbox/local/load"
)

func main() {
	if err := load.Run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}
