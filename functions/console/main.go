// Command console is the Lambda function that serves the agent console (GET / and its static
// files under /console/). It has no configuration and no AWS permissions.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/iginbox/iginbox/shared/console"
)

func main() {
	log := lambdacontext.NewLogger()
	srv, err := console.New()
	if err != nil {
		log.Error("console init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(srv.Handle)
}
