package samtemplate_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/iginbox/iginbox/local/samtemplate"
)

// These tests read the real template.yaml and check the structure the functions and the local
// stack rely on. They are generic over functions, routes and queues so that new functions are checked
// without editing this file.

func loadRepo(t *testing.T) (*samtemplate.Template, string) {
	t.Helper()
	tmpl, err := samtemplate.LoadRepo()
	if err != nil {
		t.Fatalf("load template: %v", err)
	}
	return tmpl, filepath.Dir(tmpl.Path)
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func intOf(t *testing.T, v any, what string) int {
	t.Helper()
	switch x := v.(type) {
	case int:
		return x
	case string:
		i, err := strconv.Atoi(x)
		if err != nil {
			t.Fatalf("%s: %q is not a number", what, x)
		}
		return i
	}
	t.Fatalf("%s: %v (%T) is not a number", what, v, v)
	return 0
}

func TestTemplateGlobals(t *testing.T) {
	t.Parallel()
	tmpl, _ := loadRepo(t)
	g := mapOf(tmpl.Globals["Function"])
	if g == nil {
		t.Fatal("Globals.Function missing")
	}
	if got := g["Runtime"]; got != "provided.al2023" {
		t.Errorf("Globals.Function.Runtime = %v, want provided.al2023", got)
	}
	if got, _ := g["Architectures"].([]any); len(got) != 1 || got[0] != "arm64" {
		t.Errorf("Globals.Function.Architectures = %v, want [arm64]", g["Architectures"])
	}
	if got := g["Handler"]; got != "bootstrap" {
		t.Errorf("Globals.Function.Handler = %v, want bootstrap", got)
	}
	if got := mapOf(g["LoggingConfig"])["LogFormat"]; got != "JSON" {
		t.Errorf("Globals.Function.LoggingConfig.LogFormat = %v, want JSON", got)
	}
	if got := g["Tracing"]; got != "Active" {
		t.Errorf("Globals.Function.Tracing = %v, want Active", got)
	}
}

func TestTemplateFunctions(t *testing.T) {
	t.Parallel()
	tmpl, root := loadRepo(t)
	fns, err := tmpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) == 0 {
		t.Fatal("no functions in template")
	}
	for _, f := range fns {
		t.Run(f.LogicalID, func(t *testing.T) {
			t.Parallel()
			// sam build runs the root Makefile's build-<LogicalId> (local/localrun's deploy flags).
			md := tmpl.Resources[f.LogicalID].Metadata
			if f.BuildMethod != "makefile" || md["ContextPath"] != "." || md["ProjectRootDirectory"] != "." {
				t.Errorf("Metadata = %v, want BuildMethod makefile, ContextPath and ProjectRootDirectory \".\"", md)
			}
			if f.Runtime != "provided.al2023" || f.Handler != "bootstrap" {
				t.Errorf("runtime/handler = %s/%s, want provided.al2023/bootstrap", f.Runtime, f.Handler)
			}
			if !strings.HasPrefix(f.CodeURI, "functions/") {
				t.Errorf("CodeUri = %q, want functions/<name>/", f.CodeURI)
			} else if _, err := os.Stat(filepath.Join(root, f.Dir(), "main.go")); err != nil {
				t.Errorf("CodeUri %s has no main.go: %v", f.CodeURI, err)
			}
			if f.Timeout <= 0 || f.Timeout > 900 {
				t.Errorf("Timeout = %d", f.Timeout)
			}
			lg, _, ok := samtemplate.RefName(f.LoggingConfig["LogGroup"])
			if !ok {
				t.Fatalf("LoggingConfig.LogGroup = %v, want !Ref <LogGroup>", f.LoggingConfig["LogGroup"])
			}
			res, found := tmpl.Resources[lg]
			if !found || res.Type != samtemplate.TypeLogGroup {
				t.Fatalf("LoggingConfig.LogGroup %s is not an AWS::Logs::LogGroup", lg)
			}
			if res.Properties["RetentionInDays"] == nil {
				t.Errorf("log group %s has no RetentionInDays", lg)
			}
			if f.Properties["Policies"] == nil && f.Properties["Role"] == nil {
				t.Errorf("no Policies: every function needs its own least-privilege policies")
			}
			for _, e := range f.Events {
				switch e.Type {
				case samtemplate.EventHTTPAPI, samtemplate.EventSQS, samtemplate.EventSchedule,
					"ScheduleV2":
				case samtemplate.EventDynamoDB:
					// A stream consumer must not block its shard forever nor drop silently:
					// partial batch failures, bounded retries, bisection and an on-failure
					// destination.
					if !slices.Contains(e.FunctionResponseTypes, "ReportBatchItemFailures") || !e.BisectOnError ||
						e.MaxRetryAttempts < 0 || e.OnFailureDestination == nil {
						t.Errorf("stream event %s: want ReportBatchItemFailures, BisectBatchOnFunctionError, MaximumRetryAttempts and an OnFailure destination", e.Name)
					}
				default:
					t.Errorf("event %s has unexpected type %s", e.Name, e.Type)
				}
			}
		})
	}
}

func TestTemplateRoutes(t *testing.T) {
	t.Parallel()
	tmpl, _ := loadRepo(t)
	fns, err := tmpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]string{}
	for _, f := range fns {
		for _, e := range f.Events {
			if e.Type != samtemplate.EventHTTPAPI {
				continue
			}
			key := e.Method + " " + e.Path
			if prev, dup := routes[key]; dup {
				t.Errorf("route %s mapped to %s and %s", key, prev, f.LogicalID)
			}
			routes[key] = f.LogicalID
			if e.Payload != "2.0" {
				t.Errorf("%s %s: PayloadFormatVersion = %q, want 2.0", f.LogicalID, key, e.Payload)
			}
			if api, _, ok := samtemplate.RefName(e.APIID); !ok || tmpl.Resources[api].Type != samtemplate.TypeHTTPAPI {
				t.Errorf("%s %s: ApiId = %v, want !Ref <AWS::Serverless::HttpApi>", f.LogicalID, key, e.APIID)
			}
			if e.Path != "$default" && !strings.HasPrefix(e.Path, "/") {
				t.Errorf("%s: path %q does not start with /", f.LogicalID, e.Path)
			}
		}
	}
	// The webhook routes Meta calls; the others are checked generically.
	required := []string{"GET /webhooks/instagram", "POST /webhooks/instagram"}
	known := map[string]bool{
		"POST /api/channels/connect": true, "GET /instagram/callback": true, "GET /api/channels": true,
		"GET /api/conversations": true, "GET /api/conversations/{id}/messages": true,
		"POST /api/conversations/{id}/messages": true, "POST /api/conversations/{id}/status": true,
		"PATCH /api/channels/{id}": true,
		// The console's page and static files.
		"GET /": true, "GET /console/{file}": true,
	}
	for _, r := range required {
		if _, ok := routes[r]; !ok {
			t.Errorf("route %s missing; routes: %v", r, routes)
		}
	}
	for r := range routes {
		if known[r] {
			continue
		}
		if !strings.HasPrefix(r, "GET /webhooks/") && !strings.HasPrefix(r, "POST /webhooks/") && !strings.Contains(r, " /api/") && !strings.Contains(r, " /instagram/") {
			t.Errorf("route %s is outside /webhooks, /api, /instagram and the console", r)
		}
	}
}

func TestTemplateQueues(t *testing.T) {
	t.Parallel()
	tmpl, _ := loadRepo(t)
	fns, err := tmpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	// Longest timeout of the functions consuming each queue.
	consumerTimeout := map[string]int{}
	sqsEvents := 0
	for _, f := range fns {
		for _, e := range f.Events {
			if e.Type != samtemplate.EventSQS {
				continue
			}
			sqsEvents++
			q, attr, ok := samtemplate.RefName(e.Queue)
			if !ok || attr != "Arn" || tmpl.Resources[q].Type != samtemplate.TypeQueue {
				t.Errorf("%s.%s: Queue = %v, want !GetAtt <Queue>.Arn", f.LogicalID, e.Name, e.Queue)
				continue
			}
			if e.BatchSize < 1 || e.BatchSize > 10 {
				t.Errorf("%s.%s: BatchSize = %d, want 1..10 (FIFO)", f.LogicalID, e.Name, e.BatchSize)
			}
			if !containsString(e.FunctionResponseTypes, "ReportBatchItemFailures") {
				t.Errorf("%s.%s: FunctionResponseTypes = %v, want ReportBatchItemFailures", f.LogicalID, e.Name, e.FunctionResponseTypes)
			}
			consumerTimeout[q] = max(consumerTimeout[q], f.Timeout)
		}
	}
	if sqsEvents == 0 {
		t.Fatal("no SQS event: the processor must consume the events queue")
	}
	alarmed := map[string]bool{}
	for _, id := range tmpl.ResourcesOfType(samtemplate.TypeAlarm) {
		for _, d := range asList(tmpl.Resources[id].Properties["Dimensions"]) {
			dm := mapOf(d)
			if q, attr, ok := samtemplate.RefName(dm["Value"]); ok && dm["Name"] == "QueueName" && attr == "QueueName" {
				alarmed[q] = true
			}
		}
	}
	for q, timeout := range consumerTimeout {
		t.Run(q, func(t *testing.T) {
			p := tmpl.Resources[q].Properties
			if p["FifoQueue"] != true {
				t.Errorf("FifoQueue = %v, want true", p["FifoQueue"])
			}
			if vt := intOf(t, p["VisibilityTimeout"], "VisibilityTimeout"); vt < 6*timeout {
				t.Errorf("VisibilityTimeout = %d, want ≥ 6 × consumer timeout %d", vt, timeout)
			}
			rp := mapOf(p["RedrivePolicy"])
			if rp == nil {
				t.Fatal("no RedrivePolicy")
			}
			if n := intOf(t, rp["maxReceiveCount"], "maxReceiveCount"); n < 5 {
				t.Errorf("maxReceiveCount = %d, want ≥ 5", n)
			}
			dlq, attr, ok := samtemplate.RefName(rp["deadLetterTargetArn"])
			if !ok || attr != "Arn" {
				t.Fatalf("deadLetterTargetArn = %v, want !GetAtt <DLQ>.Arn", rp["deadLetterTargetArn"])
			}
			dp := tmpl.Resources[dlq].Properties
			if dp["FifoQueue"] != true {
				t.Errorf("DLQ %s: FifoQueue = %v, want true", dlq, dp["FifoQueue"])
			}
			if r := intOf(t, dp["MessageRetentionPeriod"], "DLQ MessageRetentionPeriod"); r != 1209600 {
				t.Errorf("DLQ %s: MessageRetentionPeriod = %d, want 1209600 (14 days)", dlq, r)
			}
			if !alarmed[dlq] {
				t.Errorf("no CloudWatch alarm on DLQ %s (Dimensions QueueName = !GetAtt %s.QueueName)", dlq, dlq)
			}
		})
	}
}

func TestTemplateTable(t *testing.T) {
	t.Parallel()
	tmpl, _ := loadRepo(t)
	ids := tmpl.ResourcesOfType(samtemplate.TypeTable)
	if len(ids) != 1 {
		t.Fatalf("tables = %v, want exactly one", ids)
	}
	p := tmpl.Resources[ids[0]].Properties
	if p["BillingMode"] != "PAY_PER_REQUEST" {
		t.Errorf("BillingMode = %v", p["BillingMode"])
	}
	if mapOf(p["PointInTimeRecoverySpecification"])["PointInTimeRecoveryEnabled"] != true {
		t.Error("PITR is not enabled")
	}
	if mapOf(p["SSESpecification"])["SSEEnabled"] != true {
		t.Error("SSE is not enabled")
	}
	if ttl := mapOf(p["TimeToLiveSpecification"]); ttl["Enabled"] != true || ttl["AttributeName"] == "" {
		t.Errorf("TimeToLiveSpecification = %v", ttl)
	}
	// The publisher needs the item before and after every change.
	if v := mapOf(p["StreamSpecification"])["StreamViewType"]; v != "NEW_AND_OLD_IMAGES" {
		t.Errorf("StreamSpecification.StreamViewType = %v, want NEW_AND_OLD_IMAGES", v)
	}
}

func TestTemplateSecretsAreNoEcho(t *testing.T) {
	t.Parallel()
	tmpl, _ := loadRepo(t)
	found := 0
	for name, p := range tmpl.Parameters {
		// TokenRefreshHorizon is a duration; …Arn parameters point at secrets, they are none.
		if !secretish.MatchString(name) || name == "TokenRefreshHorizon" || strings.HasSuffix(name, "Arn") {
			continue
		}
		found++
		if !p.NoEcho {
			t.Errorf("parameter %s looks secret but is not NoEcho", name)
		}
		if p.Default != nil && *p.Default != "" {
			t.Errorf("secret parameter %s has a default", name)
		}
	}
	if found == 0 {
		t.Error("no secret parameters (InstagramAppSecret, InstagramVerifyToken) found")
	}
}

func containsString(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
