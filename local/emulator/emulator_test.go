package emulator_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iginbox/iginbox/local/emulator"
)

func TestPrefixWriter(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	w := emulator.NewPrefixWriter(&out, "fn | ")
	for _, chunk := range []string{"one\ntw", "o\n", "three"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := out.String(), "fn | one\nfn | two\n"; got != want {
		t.Errorf("got %q, want %q (the unterminated line waits)", got, want)
	}
}

// TestStartStop starts its own emulators on free ports, checks that they answer through the
// SDK, that they listen on 127.0.0.1 only, and that Stop leaves no process behind.
func TestStartStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Java and Node processes")
	}
	ctx := context.Background()
	s, err := emulator.Start(ctx, emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = s.Stop()
		}
	})
	cfg, err := emulator.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db, sq := s.Clients(cfg)
	if _, err := db.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Errorf("dynamodb: %v", err)
	}
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("probe.fifo"), Attributes: map[string]string{"FifoQueue": "true"}})
	if err != nil {
		t.Fatalf("sqs: %v", err)
	}
	if want := s.SQSURL + "/"; !strings.HasPrefix(aws.ToString(q.QueueUrl), want) {
		t.Errorf("queue url %s does not start with %s", aws.ToString(q.QueueUrl), want)
	}
	if ss, err := exec.Command("ss", "-ltnpH").Output(); err == nil {
		for _, pid := range s.PIDs() {
			for _, line := range strings.Split(string(ss), "\n") {
				if !strings.Contains(line, fmt.Sprintf("pid=%d,", pid)) {
					continue
				}
				local := strings.Fields(line)[3]
				if !strings.HasPrefix(local, "127.0.0.1:") && !strings.HasPrefix(local, "[::ffff:127.0.0.1]:") {
					t.Errorf("pid %d listens on %s, want 127.0.0.1 only", pid, local)
				}
			}
		}
	}
	pids := s.PIDs()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for {
			err := syscall.Kill(pid, 0)
			if errors.Is(err, syscall.ESRCH) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pid %d still alive after Stop", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
