// Command cost measures what each kind of event costs on AWS and prints the report (make
// cost): see local/cost and docs/cost.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/iginbox/iginbox/local/cost"
)

func main() {
	var o cost.Options
	flag.IntVar(&o.Events, "events", 40, "events per event kind")
	flag.IntVar(&o.Replies, "replies", 10, "replies of three parts (a text and two images)")
	verbose := flag.Bool("v", false, "show the functions' logs")
	flag.Parse()
	o.Progress = os.Stderr
	if *verbose {
		o.FunctionLogs = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := cost.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cost:", err)
		os.Exit(1)
	}
	cost.Write(os.Stdout, res)
}
