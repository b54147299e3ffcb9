package faults_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/iginbox/iginbox/local/metasim"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/graph"
)

func key(mid string) string { return acct + "|message|" + mid }

// TestSQSPublishFailures: SendMessageBatch fails fully, partly, or after accepting; the webhook
// answers 5xx, Meta retries the same body, and every event ends up stored exactly once.
func TestSQSPublishFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		mode  sqsMode
		calls int // faulty calls; the publisher makes up to 4 attempts per chunk
	}{
		{"every call fails", sqsCallFails, 3},
		{"some entries fail on every attempt", sqsSomeFail, 12},
		{"accepted but the answer is lost", sqsAcceptedLost, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigOpts{})
			evs := scenario(fmt.Sprintf("sqs%d", tc.mode), 6, 30) // 3 chunks of 10
			r.sqsFaults.set(tc.mode, tc.calls)
			statuses := r.deliverLikeMeta(body(evs), 5)
			if statuses[0] != http.StatusInternalServerError || statuses[len(statuses)-1] != http.StatusOK {
				t.Fatalf("statuses %v: want a 500 first, then 200 after Meta's retries", statuses)
			}
			r.drain(60 * time.Second)
			r.assertExactlyOnce(evs)
		})
	}
}

// TestProcessorCrashAndErrorsMidBatch: the function dies (or a record errors) after some
// records of a batch were applied. Partial-batch reports keep each group's order, and the
// redelivered records that were already applied do not duplicate anything.
func TestProcessorCrashAndErrorsMidBatch(t *testing.T) {
	t.Parallel()
	// A crash fails every record of its batch, whatever its group, so a record planned to
	// error twice may also be caught in both crashed batches: 4 receives in the worst case.
	// The queue keeps production's maxReceiveCount (5) here so that no planned fault can
	// push a record to the DLQ (with 3, batch composition made this test flaky).
	r := newRig(t, rigOpts{maxReceives: 5})
	evs := scenario("crash", 4, 40)
	for i, e := range evs {
		switch i {
		case 5, 21: // the function is killed on these, once each: the whole batch comes back
			r.svc.failKey(key(e.mid), 1, true)
		case 9, 14, 30: // the service errors twice on these: FIFO partial-batch report
			r.svc.failKey(key(e.mid), 2, false)
		}
	}
	if s := r.deliverLikeMeta(body(evs), 1); s[0] != http.StatusOK {
		t.Fatalf("webhook %v", s)
	}
	r.drain(90 * time.Second)
	r.assertExactlyOnce(evs)
	if r.batches.failures == 0 {
		t.Error("no partial-batch failure was reported: the case did not exercise the rule")
	}
	// Order: each group's events were first applied in the order Meta sent them.
	want := map[string][]string{}
	for _, e := range evs {
		g := envelope.GroupID(acct, e.igsid)
		want[g] = append(want[g], key(e.mid))
	}
	for g, keys := range want {
		if got := r.svc.handled[g]; !slices.Equal(got, keys) {
			t.Errorf("group %s applied in order %v, want %v", g, got, keys)
		}
	}
	if n := r.svc.attemptsOf(key(evs[5].mid)); n < 2 {
		t.Errorf("crashed record handled %d times, want a redelivery", n)
	}
}

// TestDynamoDBThrottlingAndConflicts: throttling, 500s and transaction conflicts are retried
// (by the SDK, by the service's re-decide loop, or by the queue when both give up) and
// nothing is lost or duplicated.
func TestDynamoDBThrottlingAndConflicts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		op     string
		faults []dynamoFault
		// first: the faults hit the first messages of the contacts (read, then written), not
		// the hot path (written without a read).
		first bool
	}{
		{"write throttled (SDK retries)", "TransactWriteItems", []dynamoFault{throughputExceeded, throughputExceeded}, false},
		{"read throttled (SDK retries)", "BatchGetItem", []dynamoFault{throttling, throttling, throttling}, true},
		{"500 on write (SDK retries)", "TransactWriteItems", []dynamoFault{internalServerError}, false},
		{"transaction conflict (re-decided)", "TransactWriteItems", []dynamoFault{transactionConflict, transactionConflict}, false},
		{"throttling beyond the SDK's attempts (queue redelivers)", "TransactWriteItems",
			[]dynamoFault{throughputExceeded, throughputExceeded, throughputExceeded, throughputExceeded, throughputExceeded}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigOpts{})
			evs := scenario("ddb", 4, 20)
			// Warm up: contacts and conversations exist, then the faults hit the hot path.
			if tc.first {
				r.dbFaults.inject(tc.op, tc.faults...)
			}
			if s := r.deliverLikeMeta(body(evs[:4]), 1); s[0] != http.StatusOK {
				t.Fatalf("webhook %v", s)
			}
			r.drain(30 * time.Second)
			if !tc.first {
				r.dbFaults.inject(tc.op, tc.faults...)
			}
			if s := r.deliverLikeMeta(body(evs[4:]), 1); s[0] != http.StatusOK {
				t.Fatalf("webhook %v", s)
			}
			r.drain(60 * time.Second)
			r.assertExactlyOnce(evs)
			if _, injected := r.dbFaults.count(tc.op); injected != len(tc.faults) {
				t.Errorf("%d faults injected, want %d", injected, len(tc.faults))
			}
		})
	}
}

// TestGraphProfileFaults: profile lookups of a new contact fail; the message is always stored,
// transient failures are retried (through the queue) and the contact gets its profile, a dead
// token flags the channel, a lookup that keeps failing stores a minimal contact at the last
// delivery instead of sending the message to the DLQ.
func TestGraphProfileFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		fault       *metasim.Fault
		slow        int64 // profile answers slower than the client's timeout
		wantProfile bool
		wantReauth  bool
		minAttempts int
	}{
		{name: "5xx twice then ok", fault: &metasim.Fault{Code: 2, Status: 503, Times: 2}, wantProfile: true, minAttempts: 3},
		{name: "rate limited (4) then ok", fault: &metasim.Fault{Code: 4, Times: 1}, wantProfile: true, minAttempts: 2},
		{name: "rate limited (613) then ok", fault: &metasim.Fault{Code: 613, Times: 2}, wantProfile: true, minAttempts: 3},
		{name: "timeouts then ok", slow: 2, wantProfile: true, minAttempts: 3},
		{name: "190 token dead: flagged, stored", fault: &metasim.Fault{Code: 190, Subcode: 463}, wantReauth: true, minAttempts: 1},
		{name: "5xx on every delivery: stored at the last", fault: &metasim.Fault{Code: 1, Status: 500}, minAttempts: maxReceives},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigOpts{graphTimeout: 400 * time.Millisecond})
			evs := scenario("graph", 1, 1)
			if tc.fault != nil {
				f := *tc.fault
				f.Path = "/" + graph.Version + "/" + evs[0].igsid
				r.sim.AddFault(f)
			}
			r.slowGraph.Store(tc.slow)
			if s := r.deliverLikeMeta(body(evs), 1); s[0] != http.StatusOK {
				t.Fatalf("webhook %v", s)
			}
			r.drain(60 * time.Second)
			r.assertExactlyOnce(evs)
			c := r.state().contacts[evs[0].igsid]
			if hasProfile := c.Username != ""; hasProfile != tc.wantProfile {
				t.Errorf("contact %+v: profile %v, want %v", c, hasProfile, tc.wantProfile)
			}
			ch, err := r.st.GetChannel(context.Background(), acct)
			if err != nil {
				t.Fatal(err)
			}
			if ch.ReauthRequired != tc.wantReauth {
				t.Errorf("reauth_required %v, want %v", ch.ReauthRequired, tc.wantReauth)
			}
			if n := r.svc.attemptsOf(key(evs[0].mid)); n < tc.minAttempts || n > maxReceives {
				t.Errorf("handled %d times, want %d..%d", n, tc.minAttempts, maxReceives)
			}
			if depth := r.queueDepth(r.queues.DLQURL); depth != 0 {
				t.Errorf("%d messages in the DLQ", depth)
			}
		})
	}
}

// TestPoisonEnvelopeAndRedrive: a poison envelope and an event that keeps failing reach the
// DLQ after maxReceiveCount while the other groups keep flowing; re-driving the DLQ (twice,
// with fresh deduplication ids: the worst case) stores the event exactly once and sends the
// poison back to the DLQ.
func TestPoisonEnvelopeAndRedrive(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOpts{})
	poisonGroup := envelope.GroupID(acct, "666")
	if _, err := r.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl: aws.String(r.queues.URL), MessageBody: aws.String(`{"v":1,"kind":"message","account_id":`),
		MessageGroupId: aws.String(poisonGroup), MessageDeduplicationId: aws.String("poison"),
	}); err != nil {
		t.Fatal(err)
	}
	evs := scenario("poison", 5, 25)
	stuck := evs[2] // fails until the fault is cleared
	r.svc.failKey(key(stuck.mid), -1, false)
	if s := r.deliverLikeMeta(body(evs), 1); s[0] != http.StatusOK {
		t.Fatalf("webhook %v", s)
	}
	r.pump(2, 60*time.Second, func() bool {
		return r.queueDepth(r.queues.DLQURL) >= 2 && r.queueDepth(r.queues.URL) == 0
	})
	// Later events of the stuck group may follow it to the DLQ (they were received, and
	// failed, behind it); the healthy groups must not.
	var poison sqstypes.Message
	var redrive []sqstypes.Message
	for _, m := range r.receiveAll(r.queues.DLQURL) {
		env, err := envelope.Decode([]byte(aws.ToString(m.Body)))
		switch {
		case err != nil:
			poison = m
		case env.ContactID != stuck.igsid:
			t.Errorf("event %s of a healthy group reached the DLQ", env.Key)
			redrive = append(redrive, m)
		default:
			redrive = append(redrive, m)
		}
	}
	if poison.Body == nil || len(redrive) == 0 {
		t.Fatalf("DLQ: poison %v, %d events; want the poison and the stuck event", poison.Body != nil, len(redrive))
	}
	s := r.state()
	for _, e := range evs {
		if e.igsid != stuck.igsid && s.mids[e.mid] != 1 {
			t.Errorf("mid %s of a healthy group stored %d times before the re-drive", e.mid, s.mids[e.mid])
		}
	}
	if s.mids[stuck.mid] != 0 {
		t.Errorf("the stuck event was stored")
	}

	r.svc.failKey(key(stuck.mid), 0, false) // the cause is fixed; re-drive twice, each message twice
	for round := 1; round <= 2; round++ {
		for copyN := range 2 {
			for _, m := range append(slices.Clone(redrive), poison) {
				if _, err := r.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{
					QueueUrl: aws.String(r.queues.URL), MessageBody: m.Body,
					MessageGroupId:         aws.String(m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageGroupId)]),
					MessageDeduplicationId: aws.String(fmt.Sprintf("redrive-%d-%d-%s", round, copyN, aws.ToString(m.MessageId))),
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
		r.pump(2, 60*time.Second, func() bool {
			return r.queueDepth(r.queues.URL) == 0 && r.queueDepth(r.queues.DLQURL) == 2
		})
		for _, m := range r.receiveAll(r.queues.DLQURL) {
			if _, err := envelope.Decode([]byte(aws.ToString(m.Body))); err == nil {
				t.Errorf("round %d: a valid event went back to the DLQ", round)
			}
		}
		r.assertExactlyOnce(evs)
	}
}

// receiveAll takes every message of a queue (deleting them).
func (r *rig) receiveAll(url string) []sqstypes.Message {
	r.t.Helper()
	var all []sqstypes.Message
	for range 20 {
		out, err := r.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 30,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			r.t.Fatal(err)
		}
		if len(out.Messages) == 0 && r.queueDepth(url) == 0 {
			break
		}
		for _, m := range out.Messages {
			all = append(all, m)
			if _, err := r.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				r.t.Fatal(err)
			}
		}
		if len(out.Messages) == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return all
}
