// Package coldstart builds every function of template.yaml and reports, per bootstrap, the
// local cold start (process start to first /invocation/next under local/runtimeapi, host
// build, best and median of n runs) and the size of the deployable zip (linux, the template's
// architecture, the deploy flags of local/localrun). Without measuring it only writes the zips
// (make build-lambda).
package coldstart

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/iginbox/iginbox/local/emulator"
	"github.com/iginbox/iginbox/local/localrun"
	"github.com/iginbox/iginbox/local/runtimeapi"
	"github.com/iginbox/iginbox/local/samtemplate"
)

// Run builds the zips into dist and, when measure is set, reports n cold starts per function on out.
func Run(ctx context.Context, n int, dist string, measure bool, out io.Writer) error {
	tmpl, err := samtemplate.LoadRepo()
	if err != nil {
		return err
	}
	root := filepath.Dir(tmpl.Path)
	fns, err := tmpl.Functions()
	if err != nil {
		return err
	}
	if !filepath.IsAbs(dist) {
		dist = filepath.Join(root, dist)
	}
	tmp, err := os.MkdirTemp("", "coldstart")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	r := &samtemplate.Resolver{Template: tmpl, Params: params(tmpl), Resource: fakeResource(tmpl)}
	// The functions read their secrets at cold start: serve them as make dev does.
	sec, err := localrun.StartSecrets(r)
	if err != nil {
		return err
	}
	defer sec.Close()
	if measure {
		fmt.Fprintf(out, "%-12s %12s %12s %14s\n", "function", "cold best", "cold median", "zip")
	}
	for _, f := range fns {
		zipPath := filepath.Join(dist, f.Name()+".zip")
		lambdaBin := filepath.Join(tmp, "arm64", f.Name(), "bootstrap")
		if err := localrun.BuildFunction(ctx, root, f, lambdaBin, false); err != nil {
			return err
		}
		size, err := writeZip(lambdaBin, zipPath)
		if err != nil {
			return err
		}
		if !measure {
			fmt.Fprintf(out, "%s %d bytes\n", zipPath, size)
			continue
		}
		hostBin := filepath.Join(tmp, "host", f.Name(), "bootstrap")
		if err := localrun.BuildFunction(ctx, root, f, hostBin, true); err != nil {
			return err
		}
		env, err := functionEnv(r, f, sec.Env())
		if err != nil {
			return fmt.Errorf("%s env: %w", f.LogicalID, err)
		}
		var colds []time.Duration
		for range n {
			var logs bytes.Buffer
			in, err := runtimeapi.Start(ctx, runtimeapi.Config{Name: f.Name(), Bootstrap: hostBin, Env: env, Output: &logs})
			if err != nil {
				return fmt.Errorf("%s: %w\n%s", f.LogicalID, err, logs.String())
			}
			colds = append(colds, in.ColdStart())
			in.Stop()
		}
		sort.Slice(colds, func(i, j int) bool { return colds[i] < colds[j] })
		fmt.Fprintf(out, "%-12s %9.1f ms %9.1f ms %11.2f MB\n", f.Name(), ms(colds[0]), ms(colds[len(colds)/2]), float64(size)/(1<<20))
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// writeZip writes a Lambda deployment zip holding the executable "bootstrap".
func writeZip(bin, zipPath string) (int64, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(zipPath), 0o755); err != nil {
		return 0, err
	}
	f, err := os.Create(zipPath)
	if err != nil {
		return 0, err
	}
	zw := zip.NewWriter(f)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = w.Write(data)
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", zipPath, err)
	}
	st, err := os.Stat(zipPath)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// params gives every parameter a value: its default, else a dev placeholder.
func params(t *samtemplate.Template) map[string]string {
	out := map[string]string{"Stage": "coldstart"}
	for name, p := range t.Parameters {
		if _, ok := out[name]; ok {
			continue
		}
		switch {
		case p.Default != nil && (*p.Default != "" || strings.HasSuffix(name, "Arn")): // no existing resources
			out[name] = *p.Default
		case strings.HasSuffix(name, "Url") || strings.HasSuffix(name, "Uri"):
			out[name] = "http://127.0.0.1:9/" + strings.ToLower(name)
		default:
			out[name] = "coldstart-" + strings.ToLower(name)
		}
	}
	return out
}

// fakeResource names resources without creating them: clients are lazy, so nothing is called
// before the first invocation.
func fakeResource(t *samtemplate.Template) func(id, attr string) (string, error) {
	return func(id, attr string) (string, error) {
		res, ok := t.Resources[id]
		if !ok {
			return "", fmt.Errorf("no resource %s", id)
		}
		name := "iginbox-coldstart-" + id
		switch {
		case res.Type == samtemplate.TypeQueue && attr == "":
			return "http://127.0.0.1:9/000000000000/" + name, nil
		case attr == "" || attr == "QueueName":
			return name, nil
		}
		svc := strings.ToLower(strings.Split(res.Type, "::")[1])
		return fmt.Sprintf("arn:aws:%s:us-east-1:000000000000:%s", svc, name), nil
	}
}

func functionEnv(r *samtemplate.Resolver, f samtemplate.Function, endpoints []string) ([]string, error) {
	v, err := r.Resolve(f.Environment)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	env := []string{
		"AWS_ACCESS_KEY_ID=" + emulator.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + emulator.SecretAccessKey,
		"AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:9", "AWS_ENDPOINT_URL_SQS=http://127.0.0.1:9",
	}
	env = append(env, endpoints...)
	for k, val := range m {
		env = append(env, k+"="+fmt.Sprint(val))
	}
	return env, nil
}
