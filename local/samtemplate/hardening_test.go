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
