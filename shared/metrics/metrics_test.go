package metrics_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iginbox/iginbox/shared/metrics"
)

func TestWriterEmit(t *testing.T) {
	t.Parallel()
	at := time.UnixMilli(1795000000123)
	for _, tc := range []struct {
		name string
		line metrics.Line
		want string
	}{
		{
			name: "stage and function first, two metrics, properties",
			line: metrics.Line{Time: at,
				Metrics:    []metrics.Metric{{Name: "ChannelsFlaggedForReauth", Value: 1}, {Name: "Latency", Value: 2.5, Unit: "Milliseconds"}},
				Properties: map[string]any{"account_id": "1784"}},
			want: `{"ChannelsFlaggedForReauth":1,"Function":"processor","Latency":2.5,"Stage":"prod","_aws":{"CloudWatchMetrics":[{"Dimensions":[["Stage","Function"]],"Metrics":[{"Name":"ChannelsFlaggedForReauth","Unit":"Count"},{"Name":"Latency","Unit":"Milliseconds"}],"Namespace":"iginbox"}],"Timestamp":1795000000123},"account_id":"1784"}` + "\n",
		},
		{
			name: "own dimension after stage and function, other namespace",
			line: metrics.Line{Namespace: "other", Time: at, Dimensions: []metrics.Dimension{{Name: "Kind", Value: "message"}}, Metrics: []metrics.Metric{{Name: "WebhookArchiveFailures", Value: 1}}},
			want: `{"Function":"processor","Kind":"message","Stage":"prod","WebhookArchiveFailures":1,"_aws":{"CloudWatchMetrics":[{"Dimensions":[["Stage","Function","Kind"]],"Metrics":[{"Name":"WebhookArchiveFailures","Unit":"Count"}],"Namespace":"other"}],"Timestamp":1795000000123}}` + "\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := metrics.NewWriter(&b, "prod", "processor").Emit(tc.line); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("line\n%s\nwant\n%s", b.String(), tc.want)
			}
			if !json.Valid(bytes.TrimSpace(b.Bytes())) {
				t.Error("not one JSON object")
			}
		})
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	b.WriteString(`{"level":"INFO","msg":"a log line"}` + "\nnot json\n")
	w := metrics.NewWriter(&b, "dev", "api")
	_ = w.Emit(metrics.Line{Metrics: []metrics.Metric{{Name: "A", Value: 3}}, Properties: map[string]any{"account_id": "1"}})
	_ = w.Emit(metrics.Line{Metrics: []metrics.Metric{{Name: "B", Value: 1}}})
	got, err := metrics.Decode(b.String(), "A")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Namespace != "iginbox" || fmt.Sprint(got[0].Dimensions) != "[[Stage Function]]" || got[0].Units["A"] != "Count" ||
		got[0].Fields["A"] != float64(3) || got[0].Fields["Stage"] != "dev" || got[0].Fields["account_id"] != "1" {
		t.Errorf("decoded %+v", got)
	}
	if got, _ := metrics.Decode(b.String(), "C"); len(got) != 0 {
		t.Errorf("metric C decoded from %+v", got)
	}
}

// TestWriterConcurrent: lines written from many goroutines are never interleaved.
func TestWriterConcurrent(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	w := metrics.NewWriter(&b, "dev", "processor")
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = w.Emit(metrics.Line{Metrics: []metrics.Metric{{Name: "N", Value: float64(i)}}})
		}()
	}
	wg.Wait()
	got, err := metrics.Decode(b.String(), "N")
	if err != nil || len(got) != 50 {
		t.Errorf("%d lines decoded (%v)", len(got), err)
	}
}

func TestNilWriterWritesNothing(t *testing.T) {
	t.Parallel()
	var w *metrics.Writer
	if err := w.Emit(metrics.Line{Metrics: []metrics.Metric{{Name: "N", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
}
