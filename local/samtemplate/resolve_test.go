package samtemplate_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/iginbox/iginbox/local/samtemplate"
)

const sample = `
Parameters:
  Stage: {Type: String, Default: dev}
  Secret: {Type: String, NoEcho: true}
  Topic: {Type: String, Default: ''}
Conditions:
  HasTopic: !Not [!Equals [!Ref Topic, '']]
  IsProd: {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
Globals:
  Function:
    Timeout: 10
    Handler: bootstrap
    Environment:
      Variables:
        STAGE: !Ref Stage
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub 'app-${Stage}-q.fifo'
      FifoQueue: true
      VisibilityTimeout: 60
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DLQ.Arn
        maxReceiveCount: 5
  DLQ:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub 'app-${Stage}-dlq.fifo'
      FifoQueue: true
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: go1.x}
    Properties:
      CodeUri: functions/fn/
      Timeout: 30
      Environment:
        Variables:
          SECRET: !Ref Secret
          QUEUE_URL: !Ref Q
          JOINED: !Join ['/', [a, !Ref Stage, !GetAtt Q.QueueName]]
          PICK: !If [HasTopic, !Ref Topic, !Ref 'AWS::NoValue']
          LONG: {"Fn::Sub": ["${X}-${AWS::Region}-${!Literal}", {X: !Ref Stage}]}
      Events:
        Get:
          Type: HttpApi
          Properties: {Method: get, Path: '/things/{id}', PayloadFormatVersion: '2.0'}
        Any:
          Type: HttpApi
        Queue:
          Type: SQS
          Properties: {Queue: !GetAtt Q.Arn, BatchSize: 5, FunctionResponseTypes: [ReportBatchItemFailures]}
        Tick:
          Type: Schedule
          Properties: {Schedule: rate(1 hour)}
`

func TestParseAndResolve(t *testing.T) {
	t.Parallel()
	tmpl, err := samtemplate.Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	fn, err := tmpl.Function("Fn")
	if err != nil {
		t.Fatal(err)
	}
	if fn.Timeout != 30 || fn.Handler != "bootstrap" || fn.BuildMethod != "go1.x" || fn.Name() != "fn" {
		t.Errorf("function = %+v", fn)
	}
	resources := func(id, attr string) (string, error) {
		switch id + "." + attr {
		case "Q.":
			return "http://127.0.0.1:1/000000000000/q.fifo", nil
		case "Q.QueueName":
			return "q.fifo", nil
		}
		return "", samtemplate.ErrUnresolved
	}
	tests := []struct {
		name   string
		params map[string]string
		env    string
		want   any
		err    bool
	}{
		{name: "global ref to default", env: "STAGE", want: "dev"},
		{name: "global ref to given param", params: map[string]string{"Stage": "local"}, env: "STAGE", want: "local"},
		{name: "secret without value fails", env: "SECRET", err: true},
		{name: "secret given", params: map[string]string{"Secret": "s3cr3t-value"}, env: "SECRET", want: "s3cr3t-value"},
		{name: "ref to queue", env: "QUEUE_URL", want: "http://127.0.0.1:1/000000000000/q.fifo"},
		{name: "join with getatt", params: map[string]string{"Stage": "x"}, env: "JOINED", want: "a/x/q.fifo"},
		{name: "sub long form with vars, pseudo and literal", env: "LONG", want: "dev-us-east-1-${Literal}"},
		{name: "if true", params: map[string]string{"Topic": "arn:t"}, env: "PICK", want: "arn:t"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &samtemplate.Resolver{Template: tmpl, Params: tc.params, Resource: resources}
			got, err := r.Resolve(fn.Environment[tc.env])
			if tc.err {
				if !errors.Is(err, samtemplate.ErrUnresolved) {
					t.Fatalf("err = %v, want ErrUnresolved", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
	t.Run("if false drops the key", func(t *testing.T) {
		r := &samtemplate.Resolver{Template: tmpl, Resource: resources}
		env, err := r.Resolve(map[string]any{"PICK": fn.Environment["PICK"], "STAGE": fn.Environment["STAGE"]})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]any{"STAGE": "dev"}; !reflect.DeepEqual(env, want) {
			t.Errorf("got %v, want %v", env, want)
		}
	})
	t.Run("long-form condition", func(t *testing.T) {
		r := &samtemplate.Resolver{Template: tmpl, Params: map[string]string{"Stage": "prod"}}
		ok, err := r.Condition("IsProd")
		if err != nil || !ok {
			t.Errorf("IsProd = %v, %v", ok, err)
		}
	})
}

func TestEvents(t *testing.T) {
	t.Parallel()
	tmpl, err := samtemplate.Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	fn, err := tmpl.Function("Fn")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range fn.Events {
		switch e.Type {
		case samtemplate.EventHTTPAPI:
			got[e.Name] = e.Method + " " + e.Path
		case samtemplate.EventSQS:
			q, attr, _ := samtemplate.RefName(e.Queue)
			got[e.Name] = q + "." + attr + " " + string(rune('0'+e.BatchSize)) + " " + e.FunctionResponseTypes[0]
		case samtemplate.EventSchedule:
			got[e.Name] = e.Schedule
		}
	}
	want := map[string]string{
		"Get":   "GET /things/{id}",
		"Any":   "ANY $default",
		"Queue": "Q.Arn 5 ReportBatchItemFailures",
		"Tick":  "rate(1 hour)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	order, err := tmpl.Queues()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(order, []string{"DLQ", "Q"}) {
		t.Errorf("queue order = %v, want DLQ before Q", order)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, src string }{
		{"unknown tag", "Resources:\n  A:\n    Type: X\n    Properties: {V: !Bogus x}\n"},
		{"getatt without dot", "Resources:\n  A:\n    Type: X\n    Properties: {V: !GetAtt nodot}\n"},
		{"resource without type", "Resources:\n  A:\n    Properties: {}\n"},
		{"not a mapping", "- a\n- b\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := samtemplate.Parse([]byte(tc.src)); err == nil {
				t.Error("Parse succeeded, want an error")
			}
		})
	}
}
