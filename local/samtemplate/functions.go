package samtemplate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Event types of AWS::Serverless::Function events this package understands.
const (
	EventHTTPAPI  = "HttpApi"
	EventSQS      = "SQS"
	EventSchedule = "Schedule"
	EventDynamoDB = "DynamoDB"
)

// Function is an AWS::Serverless::Function with the template's Globals.Function applied.
// Values that may hold intrinsics (environment variables, queue references) are left
// unresolved; evaluate them with a Resolver.
type Function struct {
	LogicalID     string
	CodeURI       string // e.g. "functions/webhook/"
	Handler       string
	Runtime       string
	Architectures []string
	Timeout       int // seconds
	MemorySize    int
	BuildMethod   string         // Metadata.BuildMethod
	LoggingConfig map[string]any // merged Globals and function LoggingConfig
	Environment   map[string]any // merged Globals and function Environment.Variables
	Events        []Event        // sorted by name
	Properties    map[string]any // the function's own properties, unmerged
}

// Event is one entry of a function's Events.
type Event struct {
	Name string
	Type string
	// HttpApi
	Method  string // upper case; "ANY" for any method
	Path    string // e.g. /webhooks/instagram, /api/conversations/{id}/messages, $default
	APIID   any    // usually Intrinsic{Ref HttpApi}
	Payload string // PayloadFormatVersion
	// SQS
	Queue                 any // usually Intrinsic{Fn::GetAtt [Queue, Arn]}
	BatchSize             int // SQS and DynamoDB
	FunctionResponseTypes []string
	// DynamoDB (stream event source mapping)
	Stream               any // usually Intrinsic{Fn::GetAtt [Table, StreamArn]}
	StartingPosition     string
	BatchingWindow       int // MaximumBatchingWindowInSeconds
	BisectOnError        bool
	MaxRetryAttempts     int // MaximumRetryAttempts (-1: until the record expires)
	OnFailureDestination any // DestinationConfig.OnFailure.Destination
	// Schedule
	Schedule string // rate(...) or cron(...)
	Enabled  *bool
	// Properties holds every property as written.
	Properties map[string]any
}

// Dir returns CodeURI without its trailing slash, e.g. "functions/webhook".
func (f Function) Dir() string { return strings.TrimSuffix(f.CodeURI, "/") }

// Name returns the function directory's base name, e.g. "webhook".
func (f Function) Name() string {
	d := f.Dir()
	if i := strings.LastIndex(d, "/"); i >= 0 {
		return d[i+1:]
	}
	return d
}

// Functions returns every AWS::Serverless::Function, sorted by logical id.
func (t *Template) Functions() ([]Function, error) {
	var out []Function
	for _, id := range t.ResourcesOfType(TypeFunction) {
		f, err := t.Function(id)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// Function returns one function by logical id.
func (t *Template) Function(id string) (Function, error) {
	r, ok := t.Resources[id]
	if !ok || r.Type != TypeFunction {
		return Function{}, fmt.Errorf("no function %s in template", id)
	}
	g := asMap(t.Globals["Function"])
	p := r.Properties
	get := func(k string) any {
		if v, ok := p[k]; ok {
			return v
		}
		return g[k]
	}
	f := Function{LogicalID: id, Properties: p}
	f.CodeURI, _ = get("CodeUri").(string)
	f.Handler, _ = get("Handler").(string)
	f.Runtime, _ = get("Runtime").(string)
	for _, a := range asList(get("Architectures")) {
		f.Architectures = append(f.Architectures, scalarString(a))
	}
	f.Timeout = toInt(get("Timeout"))
	f.MemorySize = toInt(get("MemorySize"))
	f.BuildMethod, _ = r.Metadata["BuildMethod"].(string)
	f.LoggingConfig = mergeMaps(asMap(g["LoggingConfig"]), asMap(p["LoggingConfig"]))
	f.Environment = mergeMaps(asMap(asMap(g["Environment"])["Variables"]), asMap(asMap(p["Environment"])["Variables"]))
	events := asMap(p["Events"])
	names := make([]string, 0, len(events))
	for n := range events {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		em := asMap(events[n])
		ep := asMap(em["Properties"])
		e := Event{Name: n, Properties: ep}
		e.Type, _ = em["Type"].(string)
		switch e.Type {
		case EventHTTPAPI:
			e.Method = strings.ToUpper(scalarString(ep["Method"]))
			e.Path = scalarString(ep["Path"])
			if e.Method == "" {
				e.Method = "ANY"
			}
			if e.Path == "" {
				e.Path = "$default"
			}
			e.APIID = ep["ApiId"]
			e.Payload = scalarString(ep["PayloadFormatVersion"])
		case EventSQS:
			e.Queue = ep["Queue"]
			e.BatchSize = toInt(ep["BatchSize"])
			if e.BatchSize == 0 {
				e.BatchSize = 10 // SAM's default for SQS events
			}
			for _, frt := range asList(ep["FunctionResponseTypes"]) {
				e.FunctionResponseTypes = append(e.FunctionResponseTypes, scalarString(frt))
			}
		case EventDynamoDB:
			e.Stream = ep["Stream"]
			e.StartingPosition = scalarString(ep["StartingPosition"])
			e.BatchSize = toInt(ep["BatchSize"])
			if e.BatchSize == 0 {
				e.BatchSize = 100 // SAM's default for DynamoDB events
			}
			e.BatchingWindow = toInt(ep["MaximumBatchingWindowInSeconds"])
			e.BisectOnError, _ = ep["BisectBatchOnFunctionError"].(bool)
			e.MaxRetryAttempts = -1
			if _, ok := ep["MaximumRetryAttempts"]; ok {
				e.MaxRetryAttempts = toInt(ep["MaximumRetryAttempts"])
			}
			for _, frt := range asList(ep["FunctionResponseTypes"]) {
				e.FunctionResponseTypes = append(e.FunctionResponseTypes, scalarString(frt))
			}
			e.OnFailureDestination = asMap(asMap(ep["DestinationConfig"])["OnFailure"])["Destination"]
		case EventSchedule:
			e.Schedule = scalarString(ep["Schedule"])
			if v, ok := ep["Enabled"].(bool); ok {
				e.Enabled = &v
			}
		}
		f.Events = append(f.Events, e)
	}
	return f, nil
}

func mergeMaps(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

func toInt(v any) int {
	switch x := v.(type) {
	case int:
		return x
	case float64:
		return int(x)
	case string:
		i, _ := strconv.Atoi(x)
		return i
	}
	return 0
}

// RefName returns the logical id an intrinsic points at: X for !Ref X and !GetAtt X.Attr (and
// the attribute for GetAtt). ok is false for anything else.
func RefName(v any) (id, attr string, ok bool) {
	in, isIn := v.(Intrinsic)
	if !isIn {
		return "", "", false
	}
	switch in.Fn {
	case "Ref":
		s, isStr := in.Arg.(string)
		return s, "", isStr
	case "Fn::GetAtt":
		l := asList(in.Arg)
		if len(l) != 2 {
			return "", "", false
		}
		id, _ := l[0].(string)
		attr, _ := l[1].(string)
		return id, attr, id != "" && attr != ""
	}
	return "", "", false
}

// FindFunction returns the function named by its folder (webhook) or its logical id
// (WebhookFunction).
func (t *Template) FindFunction(name string) (Function, error) {
	fns, err := t.Functions()
	if err != nil {
		return Function{}, err
	}
	var names []string
	for _, f := range fns {
		if f.Name() == name || f.LogicalID == name {
			return f, nil
		}
		names = append(names, f.Name())
	}
	sort.Strings(names)
	return Function{}, fmt.Errorf("no function %q in template.yaml (one of: %s)", name, strings.Join(names, ", "))
}

// GOARCH is the Go architecture of the function's Architectures (Lambda's default: x86_64).
func (f Function) GOARCH() string {
	if len(f.Architectures) > 0 && f.Architectures[0] == "arm64" {
		return "arm64"
	}
	return "amd64"
}
