// Package testenv gives tests real AWS SDK clients connected to the local emulators
// (DynamoDB Local and fauxqs on 127.0.0.1), and fresh, uniquely named tables and queues created
// from template.yaml's definitions (through local/samtemplate, never restated here).
//
// When AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SQS are set (make test, .ci/run), the
// tests use those emulators. When they are unset, the first call starts a private pair of
// emulators for this test binary on free loopback ports (local/emulator); they die with the
// binary.
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iginbox/iginbox/local/emulator"
	"github.com/iginbox/iginbox/local/samtemplate"
)

var seq atomic.Int64

func unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%d-%d", prefix, os.Getpid(), time.Now().UnixNano()%1e9, seq.Add(1))
}

var (
	startOnce sync.Once
	startErr  error
)

// ensureEmulators starts the emulators once per test binary unless the endpoints are set.
func ensureEmulators() error {
	startOnce.Do(func() {
		if os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") != "" && os.Getenv("AWS_ENDPOINT_URL_SQS") != "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		s, err := emulator.Start(ctx, emulator.Options{})
		if err != nil {
			startErr = fmt.Errorf("start emulators (or set AWS_ENDPOINT_URL_DYNAMODB/SQS): %w", err)
			return
		}
		// The emulators live as long as this test binary (they get SIGKILL when it exits).
		for _, kv := range s.Env()[:2] {
			k, v, _ := strings.Cut(kv, "=")
			if err := os.Setenv(k, v); err != nil {
				startErr = err
				return
			}
		}
	})
	return startErr
}

var (
	tmplOnce sync.Once
	tmpl     *samtemplate.Template
	tmplErr  error
)

// Template returns the repository's parsed template.yaml.
func Template(t testing.TB) *samtemplate.Template {
	t.Helper()
	tmplOnce.Do(func() { tmpl, tmplErr = samtemplate.LoadRepo() })
	if tmplErr != nil {
		t.Fatalf("load template.yaml: %v", tmplErr)
	}
	return tmpl
}

// AWSConfig returns an SDK config for the emulators (static test credentials, us-east-1).
func AWSConfig(t testing.TB) aws.Config {
	t.Helper()
	if err := ensureEmulators(); err != nil {
		t.Fatal(err)
	}
	cfg, err := emulator.AWSConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// DynamoDB returns a client of the DynamoDB emulator.
func DynamoDB(t testing.TB) *dynamodb.Client {
	return dynamodb.NewFromConfig(AWSConfig(t))
}

// SQS returns a client of the SQS emulator.
func SQS(t testing.TB) *sqs.Client {
	return sqs.NewFromConfig(AWSConfig(t))
}

// Table creates a fresh table from template.yaml's (only) AWS::DynamoDB::Table, with its keys,
// indexes and TTL, and returns its name. It is deleted when the test ends.
func Table(t testing.TB, db *dynamodb.Client) string {
	t.Helper()
	tp := Template(t)
	ids := tp.ResourcesOfType(samtemplate.TypeTable)
	if len(ids) != 1 {
		t.Fatalf("template.yaml has tables %v; Table needs exactly one", ids)
	}
	name := unique("iginbox")
	_, err := samtemplate.Provision(context.Background(), db, nil, tp, samtemplate.ProvisionOptions{
		Params:    map[string]string{"Stage": "test"},
		Tables:    ids,
		Queues:    []string{},
		TableName: func(string) string { return name },
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	// The template's stream serves the publisher's tests only (Stream turns it on again): a
	// stream makes every write of DynamoDB Local longer, and most tests never read it.
	if _, err := db.UpdateTable(context.Background(), &dynamodb.UpdateTableInput{
		TableName: aws.String(name), StreamSpecification: &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(false)},
	}); err != nil {
		t.Fatalf("turn the test table's stream off: %v", err)
	}
	return name
}

// Queues is a FIFO queue with its FIFO dead-letter queue.
type Queues struct {
	URL, DLQURL string
	// ARN and DLQARN are the queues' ARNs (eventSourceARN of SQS events).
	ARN, DLQARN string
}

// FIFOQueues creates a fresh copy of template.yaml's events FIFO queue (the FIFO queue with a
// RedrivePolicy) and its DLQ, with every template attribute except the visibility timeout and
// maxReceiveCount, which tests lower; they are deleted when the test ends.
func FIFOQueues(t testing.TB, client *sqs.Client, visibilityTimeout, maxReceiveCount int) Queues {
	t.Helper()
	tp := Template(t)
	var main string
	for _, id := range tp.ResourcesOfType(samtemplate.TypeQueue) {
		p := tp.Resources[id].Properties
		if p["FifoQueue"] == true && p["RedrivePolicy"] != nil {
			main = id
			break
		}
	}
	if main == "" {
		t.Fatal("template.yaml has no FIFO queue with a RedrivePolicy")
	}
	prov := provisionQueues(t, client, []string{main}, func(id string, attrs map[string]string) {
		if id != main {
			return
		}
		attrs["VisibilityTimeout"] = strconv.Itoa(visibilityTimeout)
		var rp map[string]any
		if err := json.Unmarshal([]byte(attrs["RedrivePolicy"]), &rp); err != nil {
			t.Fatalf("RedrivePolicy of %s: %v", id, err)
		}
		rp["maxReceiveCount"] = maxReceiveCount
		b, _ := json.Marshal(rp)
		attrs["RedrivePolicy"] = string(b)
	})
	dlqID, _, _ := samtemplate.RefName(tp.Resources[main].Properties["RedrivePolicy"].(map[string]any)["deadLetterTargetArn"])
	q, dlq := prov.Queues[main], prov.Queues[dlqID]
	return Queues{URL: q.URL, DLQURL: dlq.URL, ARN: q.ARN, DLQARN: dlq.ARN}
}

// TemplateQueues creates fresh copies of every queue of template.yaml (attributes unchanged)
// and returns them by logical id; they are deleted when the test ends.
func TemplateQueues(t testing.TB, client *sqs.Client) map[string]samtemplate.QueueInfo {
	t.Helper()
	return provisionQueues(t, client, nil, nil).Queues
}

func provisionQueues(t testing.TB, client *sqs.Client, ids []string, adjust func(string, map[string]string)) *samtemplate.Provisioned {
	t.Helper()
	base := unique("q")
	prov, err := samtemplate.Provision(context.Background(), nil, client, Template(t), samtemplate.ProvisionOptions{
		Params: map[string]string{"Stage": "test"},
		Tables: []string{},
		Queues: ids,
		QueueName: func(id, name string) string {
			n := base + "-" + id
			if strings.HasSuffix(name, ".fifo") {
				n += ".fifo"
			}
			return n
		},
		QueueAttributes: adjust,
	})
	if err != nil {
		t.Fatalf("create queues: %v", err)
	}
	t.Cleanup(func() {
		for _, q := range prov.Queues {
			_, _ = client.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(q.URL)})
		}
	})
	return prov
}

// ItemsMentioning reads the whole table (a Scan: tests only) and returns "pk sk" of every
// item whose keys or attribute values (names, strings, binaries, sets, nested) contain s.
func ItemsMentioning(t testing.TB, db *dynamodb.Client, table, s string) []string {
	t.Helper()
	var found []string
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		for _, it := range page.Items {
			if mentions(&ddbtypes.AttributeValueMemberM{Value: it}, s) {
				found = append(found, attrString(it["pk"])+" "+attrString(it["sk"]))
			}
		}
	}
	return found
}

func attrString(v ddbtypes.AttributeValue) string {
	if s, ok := v.(*ddbtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func mentions(v ddbtypes.AttributeValue, s string) bool {
	switch x := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return strings.Contains(x.Value, s)
	case *ddbtypes.AttributeValueMemberN:
		return strings.Contains(x.Value, s)
	case *ddbtypes.AttributeValueMemberB:
		return bytes.Contains(x.Value, []byte(s))
	case *ddbtypes.AttributeValueMemberSS:
		return slices.ContainsFunc(x.Value, func(e string) bool { return strings.Contains(e, s) })
	case *ddbtypes.AttributeValueMemberNS:
		return slices.ContainsFunc(x.Value, func(e string) bool { return strings.Contains(e, s) })
	case *ddbtypes.AttributeValueMemberBS:
		return slices.ContainsFunc(x.Value, func(e []byte) bool { return bytes.Contains(e, []byte(s)) })
	case *ddbtypes.AttributeValueMemberL:
		return slices.ContainsFunc(x.Value, func(e ddbtypes.AttributeValue) bool { return mentions(e, s) })
	case *ddbtypes.AttributeValueMemberM:
		for k, e := range x.Value {
			if strings.Contains(k, s) || mentions(e, s) {
				return true
			}
		}
	}
	return false
}
