package main

import (
	"strings"
	"unicode"

	"github.com/iginbox/iginbox/shared/samtemplate"
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
		"FrontendUrl":          base + "/_local/connected",
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
