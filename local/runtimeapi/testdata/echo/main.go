// Command echo is a tiny Lambda function for the runtimeapi tests: it echoes its input, fails,
// panics, sleeps, exits or reports its environment on request.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type request struct {
	Say     string `json:"say"`
	Fail    bool   `json:"fail"`
	Panic   bool   `json:"panic"`
	Exit    bool   `json:"exit"`
	SleepMS int    `json:"sleep_ms"`
	Env     string `json:"env"`
}

type response struct {
	Said      string `json:"said"`
	Env       string `json:"env,omitempty"`
	RequestID string `json:"request_id"`
	HasDL     bool   `json:"has_deadline"`
}

func main() {
	if os.Getenv("ECHO_INIT_FAIL") != "" {
		// lambda.Start reports a failing handler setup through /init/error only for some
		// failures; exiting is what a broken config does in our functions.
		fmt.Fprintln(os.Stderr, "echo: bad config")
		os.Exit(3)
	}
	lambda.Start(func(ctx context.Context, r request) (response, error) {
		if r.SleepMS > 0 {
			time.Sleep(time.Duration(r.SleepMS) * time.Millisecond)
		}
		switch {
		case r.Fail:
			return response{}, errors.New("asked to fail")
		case r.Panic:
			panic("asked to panic")
		case r.Exit:
			os.Exit(1)
		}
		lc, _ := lambdacontext.FromContext(ctx)
		_, hasDL := ctx.Deadline()
		out := response{Said: r.Say, RequestID: lc.AwsRequestID, HasDL: hasDL}
		if r.Env != "" {
			out.Env = os.Getenv(r.Env)
		}
		fmt.Println("echo said", r.Say)
		return out, nil
	})
}
