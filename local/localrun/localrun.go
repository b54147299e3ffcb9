// Package localrun holds what the local tools share to run the template's functions: parameter
// values for local use, the resolution of a function's template environment against local
// resources, and the one deploy build of a bootstrap (BuildFlags), used by make build, make
// build-lambda, make coldstart, sam build, make dev and make invoke.
package localrun

import (
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/iginbox/iginbox/local/samtemplate"
	"github.com/iginbox/iginbox/local/secretsapi"
)

// UpperSnake turns a parameter name into its environment variable name:
// InstagramAppSecret → INSTAGRAM_APP_SECRET, GraphApiUrl → GRAPH_API_URL, DLQArn → DLQ_ARN.
func UpperSnake(name string) string {
	rs := []rune(name)
	var b strings.Builder
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) {
			prevLower := unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1])
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if prevLower || (unicode.IsUpper(rs[i-1]) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// DevDefaults are the documented local values of the template's parameters, used when the
// parameter's UPPER_SNAKE environment variable is unset. base is http://127.0.0.1:$PORT.
func DevDefaults(base string) map[string]string {
	return map[string]string{
		"Stage":                "local",
		"InstagramAppSecret":   "dev-app-secret",
		"InstagramVerifyToken": "dev-verify-token",
		"ApiToken":             "dev-api-token",
		"InstagramAppId":       "dev-app-id",
		"StateSigningKey":      "dev-state-signing-key",
		"FrontendUrl":          base + "/",
		"PublicBaseUrl":        base,
		"PublicUrl":            base,
		"ApiBaseUrl":           base,
		"BaseUrl":              base,
		"RedirectUri":          base + "/instagram/callback",
		"OAuthRedirectUri":     base + "/instagram/callback",
		"InstagramRedirectUri": base + "/instagram/callback",
	}
}

// ParamSource tells where a parameter's local value came from (for the banner).
type ParamSource string

// Sources of parameter values.
const (
	FromEnv       ParamSource = "env"
	FromDevValue  ParamSource = "dev default"
	FromTemplate  ParamSource = "template default"
	FromGenerated ParamSource = "generated dev value"
	FromSimulator ParamSource = "simulator"
)

// ParamValue is one resolved parameter.
type ParamValue struct {
	Name, Env, Value string
	Source           ParamSource
	Secret           bool
}

// ResolveParams gives every template parameter its local value: the UPPER_SNAKE environment
// variable if set, else the dev default, else the template default, else (for parameters
// without a default) "dev-<kebab-name>". Stage is always "local" unless STAGE is set.
// GraphApiUrl takes GRAPH_API_URL or graphURL.
func ResolveParams(t *samtemplate.Template, getenv func(string) string, base, graphURL string) map[string]ParamValue {
	defaults := DevDefaults(base)
	out := map[string]ParamValue{}
	for name, p := range t.Parameters {
		pv := ParamValue{Name: name, Env: UpperSnake(name), Secret: p.NoEcho}
		switch v := getenv(pv.Env); {
		case v != "":
			pv.Value, pv.Source = v, FromEnv
		case name == "GraphApiUrl" && graphURL != "":
			pv.Value, pv.Source = graphURL, FromSimulator
		case defaults[name] != "":
			pv.Value, pv.Source = defaults[name], FromDevValue
		case p.Default != nil:
			pv.Value, pv.Source = *p.Default, FromTemplate
		default:
			pv.Value, pv.Source = "dev-"+strings.ToLower(strings.ReplaceAll(pv.Env, "_", "-")), FromGenerated
		}
		out[name] = pv
	}
	return out
}

// ParamValues returns the values of params by name (for samtemplate.Resolver.Params).
func ParamValues(params map[string]ParamValue) map[string]string {
	out := map[string]string{}
	for k, v := range params {
		out[k] = v.Value
	}
	return out
}

// Resources answers !Ref/!GetAtt for provisioned tables and queues, and gives every other
// resource a local name (for samtemplate.Resolver.Resource).
func Resources(t *samtemplate.Template, prov *samtemplate.Provisioned) func(id, attr string) (string, error) {
	return func(id, attr string) (string, error) {
		if v, err := prov.Resource(id, attr); err == nil {
			return v, nil
		}
		res, ok := t.Resources[id]
		if !ok {
			return "", fmt.Errorf("%w: no resource %s", samtemplate.ErrUnresolved, id)
		}
		name := "iginbox-local-" + id
		if attr == "" {
			return name, nil
		}
		svc := strings.ToLower(strings.Split(res.Type, "::")[1])
		return fmt.Sprintf("arn:aws:%s:us-east-1:000000000000:%s", svc, name), nil
	}
}

// FunctionEnv resolves the function's template environment (sorted KEY=value) after
// endpoints (the emulators' AWS_* variables); graphURL is added as GRAPH_API_URL when the
// template does not set it.
func FunctionEnv(r *samtemplate.Resolver, f samtemplate.Function, endpoints []string, graphURL string) ([]string, error) {
	v, err := r.Resolve(f.Environment)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := append([]string(nil), endpoints...)
	env = append(env, "AWS_SESSION_TOKEN=")
	for _, k := range keys {
		env = append(env, k+"="+fmt.Sprint(m[k]))
	}
	if _, set := m["GRAPH_API_URL"]; !set && graphURL != "" {
		env = append(env, "GRAPH_API_URL="+graphURL)
	}
	return env, nil
}

// StartSecrets serves the template's Secrets Manager secrets (those whose Condition holds)
// on a loopback port, each under the name !Ref resolves to locally, with its SecretString
// resolved from the local parameter values: the functions read them through the AWS SDK as
// they do when deployed. Add the server's Env to the functions' endpoints; Close it when done.
func StartSecrets(r *samtemplate.Resolver) (*secretsapi.Server, error) {
	srv := secretsapi.New()
	for _, id := range r.Template.ResourcesOfType(samtemplate.TypeSecret) {
		res := r.Template.Resources[id]
		if cond, ok := res.Raw["Condition"].(string); ok {
			on, err := r.Condition(cond)
			if err != nil {
				return nil, fmt.Errorf("secret %s: %w", id, err)
			}
			if !on {
				continue
			}
		}
		name, err := r.Resource(id, "")
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", id, err)
		}
		value, err := r.String(res.Properties["SecretString"])
		if err != nil {
			return nil, fmt.Errorf("secret %s: SecretString: %w", id, err)
		}
		srv.Add(name, value)
	}
	if err := srv.Start(0); err != nil {
		return nil, err
	}
	return srv, nil
}
