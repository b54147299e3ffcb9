package devstack

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/iginbox/iginbox/local/samtemplate"
	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/publisher"
	"github.com/iginbox/iginbox/shared/store"
)

// handlerInvoker invokes the publisher's handler in process, through the same JSON as the
// Runtime API.
type handlerInvoker struct{ h *publisher.Handler }

func (i handlerInvoker) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	resp, err := i.h.Handle(ctx, ev)
	if err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}

// The template's stream event source mapping, run locally over DynamoDB Local's stream with a
// poison record in the batch: the poison record ends on the on-failure queue (alone, thanks to
// the partial batch response and bisection), every other record's events are published.
func TestStreamPollerPoisonRecordToOnFailureQueue(t *testing.T) {
	t.Parallel()
	db := testenv.DynamoDB(t)
	sq := testenv.SQS(t)
	table := testenv.Table(t, db)
	reader := testenv.Stream(t, db, table)
	bus := testenv.EventBus(t)
	queues := testenv.TemplateQueues(t, sq)
	st := store.New(db, table)
	pb := publisher.NewBus(bus.Client(t), "iginbox-test")
	pb.Backoff = time.Millisecond
	h := publisher.NewHandler(publisher.NewTranslator(st, store.StreamItems{}), pb, slog.New(slog.DiscardHandler))

	tmpl := testenv.Template(t)
	f, err := tmpl.Function("PublisherFunction")
	if err != nil {
		t.Fatal(err)
	}
	var ev samtemplate.Event
	for _, e := range f.Events {
		if e.Type == samtemplate.EventDynamoDB {
			ev = e
		}
	}
	prov := &samtemplate.Provisioned{Streams: map[string]string{"Table": reader.StreamARN}, Queues: queues}
	streamsAPI := testenv.StreamsAPI(t)
	p, err := NewStreamPoller(f, ev, prov, streamsAPI, sq, handlerInvoker{h}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p.RetryWait, p.PollInterval = 10*time.Millisecond, 50*time.Millisecond
	if !p.Bisect || p.MaxRetries < 1 || !p.ReportBatchItemFailures || p.OnFailureURL != queues["PublisherDLQ"].URL {
		t.Fatalf("poller settings from the template: %+v", p)
	}

	ctx := context.Background()
	const acct, igsid, conv = "17841400000000001", "5550001234567", "0123456789abcdef01234567"
	if _, err := st.ConnectChannel(ctx, domain.Channel{ID: acct, Username: "shop", AccessToken: "tok", TokenExpiresAt: time.Now().Add(time.Hour)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "CONV#" + conv}, "sk": &types.AttributeValueMemberS{Value: "MSG#poison"},
		"ts": &types.AttributeValueMemberS{Value: "not a number"},
	}}); err != nil {
		t.Fatal(err)
	}
	tx := new(domain.Tx)
	tx.CreateConversation(domain.Conversation{ID: conv, ChannelID: acct, ContactIGSID: igsid, Status: domain.StatusOpen, Seq: 1, LastActivityMS: 1767225600000, CreatedAt: time.Now()})
	tx.PutMessage(domain.Message{ID: "aaaaaaaaaaaaaaaaaaaaaaaa", ConversationID: conv, ChannelID: acct, ContactIGSID: igsid, MID: "mid.1",
		Direction: domain.DirectionIncoming, Text: "after the poison 😂", Status: domain.MessageReceived, TimestampMS: 1767225600000})
	if err := st.Commit(ctx, tx); err != nil {
		t.Fatal(err)
	}
	recs, err := reader.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var poisonSeq string
	for _, r := range recs {
		if sk, ok := r.Dynamodb.Keys["sk"].(*streamtypes.AttributeValueMemberS); ok && sk.Value == "MSG#poison" {
			poisonSeq = aws.ToString(r.Dynamodb.SequenceNumber)
		}
	}
	if poisonSeq == "" || len(recs) < 4 {
		t.Fatalf("%d records, poison %q", len(recs), poisonSeq)
	}

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); p.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	var dlq []string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && (len(dlq) == 0 || len(bus.Events(publisher.MessageReceived, time.Time{})) == 0) {
		out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(p.OnFailureURL), WaitTimeSeconds: 1, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			dlq = append(dlq, aws.ToString(m.Body))
		}
	}
	if len(dlq) != 1 {
		t.Fatalf("on-failure queue has %d records, want 1: %v", len(dlq), dlq)
	}
	var info struct {
		RequestContext struct {
			Condition              string `json:"condition"`
			ApproximateInvokeCount int    `json:"approximateInvokeCount"`
		} `json:"requestContext"`
		Batch struct {
			Start     string `json:"startSequenceNumber"`
			End       string `json:"endSequenceNumber"`
			Size      int    `json:"batchSize"`
			StreamARN string `json:"streamArn"`
		} `json:"DDBStreamBatchInfo"`
	}
	if err := json.Unmarshal([]byte(dlq[0]), &info); err != nil {
		t.Fatal(err)
	}
	if info.Batch.Start != poisonSeq || info.Batch.End != poisonSeq || info.Batch.Size != 1 || info.Batch.StreamARN != reader.StreamARN ||
		info.RequestContext.Condition != "RetryAttemptsExhausted" || info.RequestContext.ApproximateInvokeCount != ev.MaxRetryAttempts+1 {
		t.Fatalf("on-failure record %s, want the poison record %s alone after %d invocations", dlq[0], poisonSeq, ev.MaxRetryAttempts+1)
	}
	var got []string
	for _, e := range bus.Events("", time.Time{}) {
		got = append(got, e.DetailType)
	}
	want := []string{publisher.ChannelConnected, publisher.ConversationCreated, publisher.MessageReceived}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("events %v, want %v", got, want)
	}
}
