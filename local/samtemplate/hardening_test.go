package samtemplate_test

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/iginbox/iginbox/local/samtemplate"
	"github.com/iginbox/iginbox/shared/archive"
	"github.com/iginbox/iginbox/shared/store"
)

// Checks of what a deploy exposes: secrets, concurrency, alarms, token access. Each check is a
// function over a parsed template, run on template.yaml and on a small broken template that
// it must reject, so that every check is seen to fail.

var secretish = regexp.MustCompile(`(?i)secret|token|password`)

// secretParams are the parameters whose values are secrets: NoEcho ones and those named like
// a secret, except references (…Arn) and the refresh horizon (a duration).
func secretParams(t *samtemplate.Template) map[string]bool {
	out := map[string]bool{}
	for name, p := range t.Parameters {
		if strings.HasSuffix(name, "Arn") || name == "TokenRefreshHorizon" {
			continue
		}
		if p.NoEcho || secretish.MatchString(name) {
			out[name] = true
		}
	}
	return out
}

var subRef = regexp.MustCompile(`\$\{([^}!][^}.]*)[^}]*\}`)

// refs returns every name v refers to: !Ref X, !GetAtt X.Y, ${X} and ${X.Y} in !Sub (and its
// variable map), at any depth.
func refs(v any) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case samtemplate.Intrinsic:
			switch x.Fn {
			case "Ref":
				if s, ok := x.Arg.(string); ok {
					out = append(out, s)
				}
			case "Fn::GetAtt":
				if id, _, ok := samtemplate.RefName(x); ok {
					out = append(out, id)
				}
			case "Fn::Sub":
				s, _ := x.Arg.(string)
				if l, ok := x.Arg.([]any); ok && len(l) == 2 {
					s, _ = l[0].(string)
					walk(l[1])
				}
				for _, m := range subRef.FindAllStringSubmatch(s, -1) {
					out = append(out, m[1])
				}
			default:
				walk(x.Arg)
			}
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
	walk(v)
	return out
}

// dynamicSecretRef matches CloudFormation dynamic references that resolve to a secret value.
var dynamicSecretRef = regexp.MustCompile(`\{\{resolve:(secretsmanager|ssm-secure):`)

func stringsIn(v any) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case samtemplate.Intrinsic:
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
	walk(v)
	return out
}

// envSecretProblems lists function environment values (and outputs) that are, or are built
// from, a secret parameter or a dynamic reference to a secret.
func envSecretProblems(t *samtemplate.Template) []string {
	secret := secretParams(t)
	var out []string
	check := func(where string, v any) {
		for _, r := range refs(v) {
			if secret[r] {
				out = append(out, where+" is built from secret parameter "+r)
			}
		}
		for _, s := range stringsIn(v) {
			if dynamicSecretRef.MatchString(s) {
				out = append(out, where+" holds a dynamic reference to a secret")
			}
		}
	}
	fns, err := t.Functions()
	if err != nil {
		return []string{err.Error()}
	}
	for _, f := range fns {
		for k, v := range f.Environment {
			check(f.LogicalID+" environment "+k, v)
		}
	}
	for name, o := range t.Outputs {
		check("output "+name, o)
	}
	for name := range secret {
		if p := t.Parameters[name]; p.Default != nil && *p.Default != "" {
			out = append(out, "secret parameter "+name+" has a default value")
		}
	}
	sort.Strings(out)
	return out
}

func parseTemplate(t *testing.T, src string) *samtemplate.Template {
	t.Helper()
	tmpl, err := samtemplate.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func TestTemplateNoSecretInFunctionEnvironments(t *testing.T) {
	t.Parallel()
	tmpl, _ := loadRepo(t)
	if len(secretParams(tmpl)) == 0 {
		t.Fatal("no secret parameters recognised: the check would pass vacuously")
	}
	for _, p := range envSecretProblems(tmpl) {
		t.Error(p)
	}
	// Functions that need secrets get the secret's ARN and may read only that secret.
	fns, err := tmpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fns {
		if _, ok := f.Environment["SECRETS_ARN"]; !ok {
			continue
		}
		found := false
		for _, p := range asList(f.Properties["Policies"]) {
			if arn, ok := mapOf(mapOf(p)["AWSSecretsManagerGetSecretValuePolicy"])["SecretArn"]; ok {
				found = true
				if !equalYAML(arn, f.Environment["SECRETS_ARN"]) {
					t.Errorf("%s may read secret %v but is given %v", f.LogicalID, arn, f.Environment["SECRETS_ARN"])
				}
			}
		}
		if !found {
			t.Errorf("%s has SECRETS_ARN but no AWSSecretsManagerGetSecretValuePolicy scoped to it", f.LogicalID)
		}
	}
}

func TestSecretCheckRejectsLeaks(t *testing.T) {
	t.Parallel()
	tmpl := parseTemplate(t, `
Parameters:
  ApiToken: {Type: String, NoEcho: true}
  AppKey: {Type: String, NoEcho: true, Default: hunter22}
  SecretArn: {Type: String, Default: ''}
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          API_TOKEN: !Ref ApiToken
          HEADER: !Sub 'Bearer ${ApiToken}'
          JOINED: !Join ['', [x, !Ref AppKey]]
          DYN: '{{resolve:secretsmanager:app:SecretString:API_TOKEN}}'
          FINE: !Ref SecretArn
Outputs:
  Leak: {Value: !Ref ApiToken}
`)
	got := envSecretProblems(tmpl)
	want := []string{
		"A environment API_TOKEN is built from secret parameter ApiToken",
		"A environment DYN holds a dynamic reference to a secret",
		"A environment HEADER is built from secret parameter ApiToken",
		"A environment JOINED is built from secret parameter AppKey",
		"output Leak is built from secret parameter ApiToken",
		"secret parameter AppKey has a default value",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func equalYAML(a, b any) bool {
	return strings.Join(refs(a), ",") == strings.Join(refs(b), ",") && len(refs(a)) > 0
}

// concurrencyProblems lists functions without a reserved concurrency setting (a conditional
// one is fine: a new account cannot reserve any) and SQS event sources without
// ScalingConfig.MaximumConcurrency.
func concurrencyProblems(t *samtemplate.Template) []string {
	fns, err := t.Functions()
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, f := range fns {
		if f.Properties["ReservedConcurrentExecutions"] == nil {
			out = append(out, f.LogicalID+" has no ReservedConcurrentExecutions")
		}
		for _, e := range f.Events {
			if e.Type == samtemplate.EventSQS && mapOf(e.Properties["ScalingConfig"])["MaximumConcurrency"] == nil {
				out = append(out, f.LogicalID+"."+e.Name+" has no ScalingConfig.MaximumConcurrency")
			}
		}
	}
	return out
}

// alarmProblems lists alarms that may notify no one: AlarmActions missing, empty, or
// conditional on AWS::NoValue, or an action that is no SNS topic of the stack or parameter.
func alarmProblems(t *samtemplate.Template) []string {
	var out []string
	for _, id := range t.ResourcesOfType(samtemplate.TypeAlarm) {
		actions, isList := t.Resources[id].Properties["AlarmActions"].([]any)
		if !isList || len(actions) == 0 {
			out = append(out, id+" has no AlarmActions list")
			continue
		}
		for _, a := range actions {
			names := refs(a)
			if len(names) == 0 {
				out = append(out, id+" has an action that names no topic")
			}
			for _, n := range names {
				_, param := t.Parameters[n]
				switch {
				case n == "AWS::NoValue":
					out = append(out, id+" has an action that may be AWS::NoValue")
				case param:
				case t.Resources[n].Type != "AWS::SNS::Topic":
					out = append(out, id+" notifies "+n+", which is not an SNS topic")
				}
			}
		}
	}
	return out
}

func TestTemplateConcurrencyAndAlarms(t *testing.T) {
	t.Parallel()
	tmpl, _ := loadRepo(t)
	for _, p := range append(concurrencyProblems(tmpl), alarmProblems(tmpl)...) {
		t.Error(p)
	}
	if len(tmpl.ResourcesOfType(samtemplate.TypeAlarm)) < 8 {
		t.Errorf("alarms = %v; want DLQ depth, queue age, processor errors and throttles, webhook 5xx, re-auth, refresh failures, refresher DLQ",
			tmpl.ResourcesOfType(samtemplate.TypeAlarm))
	}
	api := tmpl.Resources["HttpApi"].Properties
	rs := mapOf(api["DefaultRouteSettings"])
	if rs["ThrottlingBurstLimit"] == nil || rs["ThrottlingRateLimit"] == nil {
		t.Errorf("HttpApi DefaultRouteSettings = %v, want ThrottlingBurstLimit and ThrottlingRateLimit", rs)
	}
}

func TestConcurrencyAndAlarmChecksRejectGaps(t *testing.T) {
	t.Parallel()
	tmpl := parseTemplate(t, `
Parameters:
  TopicArn: {Type: String, Default: ''}
Conditions:
  HasTopic: !Not [!Equals [!Ref TopicArn, '']]
Resources:
  Q: {Type: AWS::SQS::Queue}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn}}
  Ok:
    Type: AWS::Serverless::Function
    Properties:
      ReservedConcurrentExecutions: !If [HasTopic, 5, !Ref 'AWS::NoValue']
      Events:
        E: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn, ScalingConfig: {MaximumConcurrency: 2}}}
  None: {Type: AWS::CloudWatch::Alarm, Properties: {}}
  Maybe:
    Type: AWS::CloudWatch::Alarm
    Properties: {AlarmActions: !If [HasTopic, [!Ref TopicArn], !Ref 'AWS::NoValue']}
  MaybeInList:
    Type: AWS::CloudWatch::Alarm
    Properties: {AlarmActions: [!If [HasTopic, !Ref TopicArn, !Ref 'AWS::NoValue']]}
  ToQueue:
    Type: AWS::CloudWatch::Alarm
    Properties: {AlarmActions: [!Ref Q]}
  Good:
    Type: AWS::CloudWatch::Alarm
    Properties: {AlarmActions: [!Ref TopicArn]}
`)
	got := append(concurrencyProblems(tmpl), alarmProblems(tmpl)...)
	want := []string{
		"Fn has no ReservedConcurrentExecutions",
		"Fn.E has no ScalingConfig.MaximumConcurrency",
		"Maybe has no AlarmActions list",
		"MaybeInList has an action that may be AWS::NoValue",
		"None has no AlarmActions list",
		"ToQueue notifies Q, which is not an SNS topic",
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// statements returns the IAM statements of a function's inline policies (Policies entries
// with a Statement list).
func statements(f samtemplate.Function) []map[string]any {
	var out []map[string]any
	for _, p := range asList(f.Properties["Policies"]) {
		for _, st := range asList(mapOf(p)["Statement"]) {
			out = append(out, mapOf(st))
		}
	}
	return out
}

func stringList(v any) []string {
	if s, ok := v.(string); ok {
		return []string{s}
	}
	var out []string
	for _, e := range asList(v) {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		if !containsString(have, w) {
			return false
		}
	}
	return true
}

// tokenReadProblems lists functions serving /api routes whose role may read token items: they
// need a Deny of the item reads on partition keys tokenPrefix* and a Deny of Scan.
func tokenReadProblems(t *samtemplate.Template, tokenPrefix string) []string {
	fns, err := t.Functions()
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, f := range fns {
		api := false
		for _, e := range f.Events {
			api = api || (e.Type == samtemplate.EventHTTPAPI && strings.HasPrefix(e.Path, "/api/"))
		}
		if !api {
			continue
		}
		deniedReads, deniedReturn, deniedScan := false, false, false
		for _, st := range statements(f) {
			if st["Effect"] != "Deny" {
				continue
			}
			actions := stringList(st["Action"])
			cond := mapOf(st["Condition"])
			if cond == nil && containsString(actions, "dynamodb:Scan") {
				deniedScan = true
			}
			keys := stringList(mapOf(cond["ForAnyValue:StringLike"])["dynamodb:LeadingKeys"])
			// Every action that returns an item (or its old version) is denied; a DeleteItem
			// (disconnect) only without return values.
			if containsString(keys, tokenPrefix+"*") &&
				containsAll(actions, "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem",
					"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem") {
				deniedReads = true
			}
			if containsString(keys, tokenPrefix+"*") && containsString(actions, "dynamodb:DeleteItem") {
				rv := stringList(mapOf(cond["StringNotEquals"])["dynamodb:ReturnValues"])
				if len(cond) == 1 || (len(rv) == 1 && rv[0] == "NONE") {
					deniedReturn = true
				}
			}
		}
		if !deniedReads || !deniedReturn {
			out = append(out, f.LogicalID+" may read token items ("+tokenPrefix+"*)")
		}
		if !deniedScan {
			out = append(out, f.LogicalID+" may Scan the table (a Scan names no partition key)")
		}
	}
	return out
}

// indexTokenProblems lists indexes that would hold a token: ALL projected over an item with
// the token item's attributes (an item is indexed when it has the index's key attributes),
// or the token's attribute among INCLUDE's NonKeyAttributes.
func indexTokenProblems(t *samtemplate.Template, tokenAttrs []string) []string {
	var out []string
	for _, id := range t.ResourcesOfType(samtemplate.TypeTable) {
		for _, g := range asList(t.Resources[id].Properties["GlobalSecondaryIndexes"]) {
			gsi := mapOf(g)
			name, _ := gsi["IndexName"].(string)
			proj := mapOf(gsi["Projection"])
			indexed := false
			for _, k := range asList(gsi["KeySchema"]) {
				indexed = indexed || containsString(tokenAttrs, mapOf(k)["AttributeName"].(string))
			}
			switch proj["ProjectionType"] {
			case "ALL":
				if indexed {
					out = append(out, name+" projects ALL over token items")
				}
			case "INCLUDE":
				for _, a := range stringList(proj["NonKeyAttributes"]) {
					if a == "access_token" {
						out = append(out, name+" projects access_token")
					}
				}
			}
		}
	}
	return out
}

// webhookWriteProblems lists what lets the webhook role write anything but archive items.
func webhookWriteProblems(t *samtemplate.Template, archivePrefix string) []string {
	f, err := t.Function("WebhookFunction")
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, p := range asList(f.Properties["Policies"]) {
		for k := range mapOf(p) {
			if strings.HasPrefix(k, "DynamoDB") {
				out = append(out, "WebhookFunction has "+k)
			}
		}
	}
	for _, st := range statements(f) {
		for _, a := range stringList(st["Action"]) {
			if !strings.HasPrefix(a, "dynamodb:") || st["Effect"] != "Allow" {
				continue
			}
			keys := stringList(mapOf(mapOf(st["Condition"])["ForAllValues:StringLike"])["dynamodb:LeadingKeys"])
			if a != "dynamodb:PutItem" || len(keys) != 1 || keys[0] != archivePrefix+"*" {
				out = append(out, "WebhookFunction may "+a+" beyond "+archivePrefix+"* items")
			}
		}
	}
	return out
}

func TestTemplateTokenAndArchiveAccess(t *testing.T) {
	t.Parallel()
	tmpl, _ := loadRepo(t)
	var problems []string
	problems = append(problems, tokenReadProblems(tmpl, store.TokenKeyPrefix)...)
	problems = append(problems, indexTokenProblems(tmpl, store.TokenItemAttributes())...)
	problems = append(problems, webhookWriteProblems(tmpl, archive.KeyPrefix)...)
	for _, p := range problems {
		t.Error(p)
	}
}

func TestTokenAndArchiveChecksRejectGaps(t *testing.T) {
	t.Parallel()
	tmpl := parseTemplate(t, `
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      GlobalSecondaryIndexes:
        - IndexName: byChannel
          KeySchema: [{AttributeName: channel_id, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
        - IndexName: inc
          KeySchema: [{AttributeName: gsi9pk, KeyType: HASH}]
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [name, access_token]}
        - IndexName: fine
          KeySchema: [{AttributeName: gsi1pk, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
  ApiFunction:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - DynamoDBCrudPolicy: {TableName: !Ref Table}
        - Statement:
            - Effect: Deny
              Action: [dynamodb:GetItem]
              Resource: !GetAtt Table.Arn
              Condition: {ForAnyValue:StringLike: {dynamodb:LeadingKeys: ['TOKEN#*']}}
      Events:
        R: {Type: HttpApi, Properties: {Path: /api/things, Method: GET}}
  WebhookFunction:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Statement:
            - Effect: Allow
              Action: [dynamodb:PutItem, dynamodb:GetItem]
              Resource: !GetAtt Table.Arn
`)
	var got []string
	got = append(got, tokenReadProblems(tmpl, store.TokenKeyPrefix)...)
	got = append(got, indexTokenProblems(tmpl, store.TokenItemAttributes())...)
	got = append(got, webhookWriteProblems(tmpl, archive.KeyPrefix)...)
	sort.Strings(got)
	want := []string{
		"ApiFunction may Scan the table (a Scan names no partition key)",
		"ApiFunction may read token items (TOKEN#*)",
		"WebhookFunction may dynamodb:GetItem beyond ARCHIVE#* items",
		"WebhookFunction may dynamodb:PutItem beyond ARCHIVE#* items",
		"byChannel projects ALL over token items",
		"inc projects access_token",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
