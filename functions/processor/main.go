// Command processor is the Lambda function that consumes the events FIFO queue.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/iginbox/iginbox/shared/processor"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	h := processor.NewHandler(processor.LogService{Log: log}, log)
	lambda.Start(h.Handle)
}
