// Command coldstart is `make coldstart` (and, with -measure=false, `make build-lambda`): see
// package local/coldstart.
//
//	go run ./cmd/coldstart [-n 10] [-dist dist] [-measure=true]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/iginbox/iginbox/local/coldstart"
)

func main() {
	n := flag.Int("n", 10, "cold starts per function")
	dist := flag.String("dist", "dist", "where <name>.zip files go")
	measure := flag.Bool("measure", true, "measure cold starts (false: only build the zips)")
	flag.Parse()
	if err := coldstart.Run(context.Background(), *n, *dist, *measure, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "coldstart:", err)
		os.Exit(1)
	}
}
