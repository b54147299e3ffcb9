package samtemplate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// queueAttributeNames maps AWS::SQS::Queue properties to SQS queue attributes.
var queueAttributeNames = []string{
	"FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit",
	"VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize",
	"ReceiveMessageWaitTimeSeconds", "RedrivePolicy", "RedriveAllowPolicy", "SqsManagedSseEnabled",
}

// QueueDefinition is an AWS::SQS::Queue resolved to a CreateQueue call.
type QueueDefinition struct {
	LogicalID  string
	Name       string            // QueueName (or <stack>-<LogicalID>[.fifo] when absent)
	Attributes map[string]string // SQS attribute names and string values
	DependsOn  []string          // queues referenced (e.g. by RedrivePolicy.deadLetterTargetArn)
}

// tableProps is the subset of AWS::DynamoDB::Table properties CreateTable needs. Field names
// match CloudFormation's, and the leaf types are the SDK's (same names and values).
type tableProps struct {
	TableName              string
	BillingMode            ddbtypes.BillingMode
	AttributeDefinitions   []ddbtypes.AttributeDefinition
	KeySchema              []ddbtypes.KeySchemaElement
	ProvisionedThroughput  *ddbtypes.ProvisionedThroughput
	GlobalSecondaryIndexes []struct {
		IndexName             *string
		KeySchema             []ddbtypes.KeySchemaElement
		Projection            *ddbtypes.Projection
		ProvisionedThroughput *ddbtypes.ProvisionedThroughput
	}
	LocalSecondaryIndexes   []ddbtypes.LocalSecondaryIndex
	StreamSpecification     *struct{ StreamViewType ddbtypes.StreamViewType }
	TimeToLiveSpecification *struct {
		AttributeName string
		Enabled       bool
	}
}

// TableDefinition is an AWS::DynamoDB::Table resolved to CreateTable (and UpdateTimeToLive).
type TableDefinition struct {
	LogicalID string
	Create    *dynamodb.CreateTableInput
	// TTLAttribute is the TimeToLiveSpecification attribute when enabled, else "".
	TTLAttribute string
}

// Table resolves the table resource id into a CreateTable input named name (the template's
// TableName when name is empty).
func (t *Template) Table(id, name string, r *Resolver) (TableDefinition, error) {
	res, ok := t.Resources[id]
	if !ok || res.Type != TypeTable {
		return TableDefinition{}, fmt.Errorf("no table %s in template", id)
	}
	v, err := r.Resolve(res.Properties)
	if err != nil {
		return TableDefinition{}, fmt.Errorf("table %s: %w", id, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return TableDefinition{}, fmt.Errorf("table %s: %w", id, err)
	}
	var p tableProps
	if err := json.Unmarshal(b, &p); err != nil {
		return TableDefinition{}, fmt.Errorf("table %s properties: %w", id, err)
	}
	if name == "" {
		name = p.TableName
	}
	if name == "" {
		return TableDefinition{}, fmt.Errorf("table %s: no name", id)
	}
	in := &dynamodb.CreateTableInput{
		TableName:             aws.String(name),
		BillingMode:           p.BillingMode,
		AttributeDefinitions:  p.AttributeDefinitions,
		KeySchema:             p.KeySchema,
		ProvisionedThroughput: p.ProvisionedThroughput,
		LocalSecondaryIndexes: p.LocalSecondaryIndexes,
	}
	if in.BillingMode == "" {
		in.BillingMode = ddbtypes.BillingModeProvisioned
	}
	for _, g := range p.GlobalSecondaryIndexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{
			IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection, ProvisionedThroughput: g.ProvisionedThroughput,
		})
	}
	if p.StreamSpecification != nil && p.StreamSpecification.StreamViewType != "" {
		in.StreamSpecification = &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: p.StreamSpecification.StreamViewType}
	}
	def := TableDefinition{LogicalID: id, Create: in}
	if tt := p.TimeToLiveSpecification; tt != nil && tt.Enabled {
		def.TTLAttribute = tt.AttributeName
	}
	return def, nil
}

// Queue resolves the queue resource id. name overrides the template's QueueName when not empty.
// Queue references inside the properties (RedrivePolicy) are answered by r.Resource, so resolve
// dependencies first (see Provision).
func (t *Template) Queue(id, name string, r *Resolver) (QueueDefinition, error) {
	res, ok := t.Resources[id]
	if !ok || res.Type != TypeQueue {
		return QueueDefinition{}, fmt.Errorf("no queue %s in template", id)
	}
	def := QueueDefinition{LogicalID: id, Attributes: map[string]string{}, DependsOn: t.queueDeps(res)}
	v, err := r.Resolve(res.Properties)
	if err != nil {
		return QueueDefinition{}, fmt.Errorf("queue %s: %w", id, err)
	}
	props := asMap(v)
	for _, k := range queueAttributeNames {
		pv, ok := props[k]
		if !ok {
			continue
		}
		switch x := pv.(type) {
		case map[string]any:
			b, err := json.Marshal(x)
			if err != nil {
				return QueueDefinition{}, fmt.Errorf("queue %s %s: %w", id, k, err)
			}
			def.Attributes[k] = string(b)
		default:
			def.Attributes[k] = scalarString(x)
		}
	}
	def.Name = name
	if def.Name == "" {
		def.Name = scalarString(props["QueueName"])
	}
	if def.Name == "" {
		def.Name = "iginbox-local-" + id
		if def.Attributes["FifoQueue"] == "true" {
			def.Name += ".fifo"
		}
	}
	return def, nil
}

// queueDeps lists the queue resources a queue's properties refer to.
func (t *Template) queueDeps(res Resource) []string {
	seen := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case Intrinsic:
			if id, _, ok := RefName(x); ok {
				if d, found := t.Resources[id]; found && d.Type == TypeQueue && id != res.LogicalID {
					seen[id] = true
				}
			}
			walk(x.Arg)
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(res.Properties)
	var out []string
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Queues returns every queue's logical id in creation order (dependencies first).
func (t *Template) Queues() ([]string, error) {
	ids := t.ResourcesOfType(TypeQueue)
	var (
		order []string
		state = map[string]int{} // 1 visiting, 2 done
		visit func(id string) error
	)
	visit = func(id string) error {
		switch state[id] {
		case 1:
			return fmt.Errorf("queue %s: reference cycle", id)
		case 2:
			return nil
		}
		state[id] = 1
		for _, d := range t.queueDeps(t.Resources[id]) {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[id] = 2
		order = append(order, id)
		return nil
	}
	for _, id := range ids {
		if err := visit(id); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// QueueInfo is a created queue.
type QueueInfo struct {
	Name, URL, ARN string
}

// Provisioned holds what Provision created, by logical id.
type Provisioned struct {
	Region    string
	AccountID string
	Tables    map[string]string    // logical id → table name
	Streams   map[string]string    // table logical id → its stream ARN (tables with a stream)
	Queues    map[string]QueueInfo // logical id → queue
}

// Resource answers !Ref and !GetAtt for provisioned tables and queues (use as Resolver.Resource).
func (p *Provisioned) Resource(id, attr string) (string, error) {
	if name, ok := p.Tables[id]; ok {
		switch attr {
		case "":
			return name, nil
		case "Arn":
			return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", p.Region, p.AccountID, name), nil
		case "StreamArn":
			if arn := p.Streams[id]; arn != "" {
				return arn, nil
			}
		}
		return "", fmt.Errorf("%w: %s.%s", ErrUnresolved, id, attr)
	}
	if q, ok := p.Queues[id]; ok {
		switch attr {
		case "":
			return q.URL, nil
		case "Arn":
			return q.ARN, nil
		case "QueueName":
			return q.Name, nil
		case "QueueUrl":
			return q.URL, nil
		}
		return "", fmt.Errorf("%w: %s.%s", ErrUnresolved, id, attr)
	}
	return "", fmt.Errorf("%w: resource %s is not provisioned locally", ErrUnresolved, id)
}

// ProvisionOptions tunes Provision.
type ProvisionOptions struct {
	// Params are parameter values (e.g. {"Stage": "local"}); others take their defaults.
	Params map[string]string
	// Tables and Queues limit provisioning to these logical ids (and the queues they depend
	// on); nil means all of that type, an empty non-nil slice none.
	Tables, Queues []string
	// TableName and QueueName rename resources (tests use unique names); nil keeps the
	// template's names (tables without TableName get "iginbox-<Stage>-<LogicalID>").
	TableName func(logicalID string) string
	QueueName func(logicalID, templateName string) string
	// QueueAttributes may adjust a queue's attributes before creation (e.g. a shorter
	// visibility timeout in tests).
	QueueAttributes func(logicalID string, attrs map[string]string)
}

// Provision creates the template's tables (with TTL) and queues (dependencies first) on the
// clients' endpoints. Existing tables and queues with the same names are reused.
func Provision(ctx context.Context, db *dynamodb.Client, sq *sqs.Client, t *Template, o ProvisionOptions) (*Provisioned, error) {
	p := &Provisioned{Region: "us-east-1", AccountID: "000000000000", Tables: map[string]string{}, Streams: map[string]string{}, Queues: map[string]QueueInfo{}}
	r := &Resolver{Template: t, Params: o.Params, Resource: p.Resource}
	stage, _ := r.Param("Stage")
	if stage == "" {
		stage = "local"
	}
	tables := o.Tables
	if tables == nil {
		tables = t.ResourcesOfType(TypeTable)
	}
	for _, id := range tables {
		name := ""
		if o.TableName != nil {
			name = o.TableName(id)
		}
		if name == "" {
			if tn, _ := r.String(t.Resources[id].Properties["TableName"]); tn != "" {
				name = tn
			} else {
				name = "iginbox-" + stage + "-" + id
			}
		}
		def, err := t.Table(id, name, r)
		if err != nil {
			return nil, err
		}
		streamARN, err := createTable(ctx, db, def)
		if err != nil {
			return nil, err
		}
		p.Tables[id] = name
		if streamARN != "" {
			p.Streams[id] = streamARN
		}
	}
	order, err := t.Queues()
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	if o.Queues == nil {
		for _, id := range order {
			// A queue of a resource condition that is false (e.g. the events webhook's DLQ
			// without EventsWebhookUrl) does not exist in the stack either.
			if c, ok := t.Resources[id].Raw["Condition"].(string); ok {
				if on, err := r.Condition(c); err == nil && !on {
					continue
				}
			}
			want[id] = true
		}
	} else {
		var add func(id string)
		add = func(id string) {
			want[id] = true
			for _, d := range t.queueDeps(t.Resources[id]) {
				add(d)
			}
		}
		for _, id := range o.Queues {
			if res, ok := t.Resources[id]; !ok || res.Type != TypeQueue {
				return nil, fmt.Errorf("no queue %s in template", id)
			}
			add(id)
		}
	}
	for _, id := range order {
		if !want[id] {
			continue
		}
		def, err := t.Queue(id, "", r)
		if err != nil {
			return nil, err
		}
		if o.QueueName != nil {
			if n := o.QueueName(id, def.Name); n != "" {
				def.Name = n
			}
		}
		if o.QueueAttributes != nil {
			o.QueueAttributes(id, def.Attributes)
		}
		info, err := createQueue(ctx, sq, def)
		if err != nil {
			return nil, err
		}
		p.Queues[id] = info
	}
	return p, nil
}

// createTable creates the table (or reuses it) and returns its latest stream ARN ("" without
// a stream).
func createTable(ctx context.Context, db *dynamodb.Client, def TableDefinition) (string, error) {
	name := aws.ToString(def.Create.TableName)
	if _, err := db.CreateTable(ctx, def.Create); err != nil {
		var inUse *ddbtypes.ResourceInUseException
		if !errors.As(err, &inUse) {
			return "", fmt.Errorf("create table %s: %w", name, err)
		}
	}
	if def.TTLAttribute != "" {
		_, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               aws.String(name),
			TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(def.TTLAttribute), Enabled: aws.Bool(true)},
		})
		if err != nil && !strings.Contains(err.Error(), "already enabled") {
			return "", fmt.Errorf("enable ttl on %s: %w", name, err)
		}
	}
	if def.Create.StreamSpecification == nil {
		return "", nil
	}
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("describe table %s: %w", name, err)
	}
	return aws.ToString(out.Table.LatestStreamArn), nil
}

func createQueue(ctx context.Context, sq *sqs.Client, def QueueDefinition) (QueueInfo, error) {
	out, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(def.Name), Attributes: def.Attributes})
	if err != nil {
		return QueueInfo{}, fmt.Errorf("create queue %s: %w", def.Name, err)
	}
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       out.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return QueueInfo{}, fmt.Errorf("queue %s arn: %w", def.Name, err)
	}
	return QueueInfo{Name: def.Name, URL: aws.ToString(out.QueueUrl), ARN: attrs.Attributes["QueueArn"]}, nil
}

// UniqueNames sets o's TableName and QueueName so that one run's table and queues do not
// collide with another's on shared emulators: "iginbox-<prefix>-<n>" for the table and
// "<prefix>-<n>-<LogicalID>" (plus ".fifo" for FIFO queues) for queues.
func UniqueNames(prefix string, o ProvisionOptions) ProvisionOptions {
	run := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e9)
	o.TableName = func(string) string { return "iginbox-" + run }
	o.QueueName = func(id, name string) string {
		n := run + "-" + id
		if strings.HasSuffix(name, ".fifo") {
			n += ".fifo"
		}
		return n
	}
	return o
}

// Delete removes what Provision created (best effort: the emulators die with the run anyway).
func (p *Provisioned) Delete(ctx context.Context, db *dynamodb.Client, sq *sqs.Client) {
	for _, q := range p.Queues {
		_, _ = sq.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(q.URL)})
	}
	for _, t := range p.Tables {
		_, _ = db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(t)})
	}
}
