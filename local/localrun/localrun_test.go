package localrun_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/iginbox/iginbox/local/emulator"
	"github.com/iginbox/iginbox/local/localrun"
	"github.com/iginbox/iginbox/local/samtemplate"
)

// The local stack serves the template's secret from the documented dev defaults (or the
// variables of the same names), under the SECRETS_ARN each function's environment resolves to.
func TestStartSecretsServesTheTemplateSecret(t *testing.T) {
	t.Parallel()
	tmpl, err := samtemplate.LoadRepo()
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "API_TOKEN" {
			return "env-api-token-0123456789"
		}
		return ""
	}
	params := localrun.ResolveParams(tmpl, getenv, "http://127.0.0.1:3000", "http://127.0.0.1:9")
	r := &samtemplate.Resolver{Template: tmpl, Params: localrun.ParamValues(params), Resource: localrun.Resources(tmpl, &samtemplate.Provisioned{})}
	srv, err := localrun.StartSecrets(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	client := secretsmanager.New(secretsmanager.Options{
		Region: emulator.Region, Credentials: emulator.Credentials(),
		BaseEndpoint: aws.String(strings.TrimPrefix(srv.Env()[0], "AWS_ENDPOINT_URL_SECRETS_MANAGER=")),
	})
	fns, err := tmpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	readers := 0
	for _, f := range fns {
		env, err := localrun.FunctionEnv(r, f, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range env {
			id, ok := strings.CutPrefix(kv, "SECRETS_ARN=")
			if !ok {
				continue
			}
			readers++
			out, err := client.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
			if err != nil {
				t.Fatalf("%s: GetSecretValue(%s): %v", f.LogicalID, id, err)
			}
			var v map[string]string
			if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v); err != nil {
				t.Fatalf("%s: secret is not JSON: %v", f.LogicalID, err)
			}
			want := map[string]string{"INSTAGRAM_APP_SECRET": "dev-app-secret", "INSTAGRAM_VERIFY_TOKEN": "dev-verify-token", "API_TOKEN": "env-api-token-0123456789"}
			for k, w := range want {
				if v[k] != w {
					t.Errorf("%s: secret key %s = %q, want %q", f.LogicalID, k, v[k], w)
				}
			}
		}
	}
	if readers < 3 {
		t.Errorf("%d functions read the secret, want webhook, api and oauth at least", readers)
	}
}
