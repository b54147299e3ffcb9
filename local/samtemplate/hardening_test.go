package samtemplate_test

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/iginbox/iginbox/local/samtemplate"
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
