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

func TestWrite(t *testing.T) {
	t.Parallel()
	at := time.UnixMilli(1795000000123)
	for _, tc := range []struct {
		name string
		line metrics.Line
		want string
	}{
		{
			name: "dimensions, two metrics, properties",
			line: metrics.Line{Time: at, Dimensions: []metrics.Dimension{{Name: "Stage", Value: "prod"}, {Name: "Function", Value: "processor"}},
				Metrics:    []metrics.Metric{{Name: "ChannelsFlaggedForReauth", Value: 1}, {Name: "Latency", Value: 2.5, Unit: "Milliseconds"}},
				Properties: map[string]any{"account_id": "1784"}},
			want: `{"ChannelsFlaggedForReauth":1,"Function":"processor","Latency":2.5,"Stage":"prod","_aws":{"CloudWatchMetrics":[{"Dimensions":[["Stage","Function"]],"Metrics":[{"Name":"ChannelsFlaggedForReauth","Unit":"Count"},{"Name":"Latency","Unit":"Milliseconds"}],"Namespace":"iginbox"}],"Timestamp":1795000000123},"account_id":"1784"}` + "\n",
		},
		{
			name: "no dimensions, other namespace",
			line: metrics.Line{Namespace: "other", Time: at, Metrics: []metrics.Metric{{Name: "WebhookArchiveFailures", Value: 1}}},
			want: `{"WebhookArchiveFailures":1,"_aws":{"CloudWatchMetrics":[{"Dimensions":[[]],"Metrics":[{"Name":"WebhookArchiveFailures","Unit":"Count"}],"Namespace":"other"}],"Timestamp":1795000000123}}` + "\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := metrics.Write(&b, tc.line); err != nil {
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
	_ = metrics.Write(&b, metrics.Line{Dimensions: []metrics.Dimension{{Name: "Stage", Value: "dev"}},
		Metrics: []metrics.Metric{{Name: "A", Value: 3}}, Properties: map[string]any{"account_id": "1"}})
	_ = metrics.Write(&b, metrics.Line{Metrics: []metrics.Metric{{Name: "B", Value: 1}}})
	got, err := metrics.Decode(b.String(), "A")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Namespace != "iginbox" || fmt.Sprint(got[0].Dimensions) != "[[Stage]]" || got[0].Units["A"] != "Count" ||
		got[0].Fields["A"] != float64(3) || got[0].Fields["Stage"] != "dev" || got[0].Fields["account_id"] != "1" {
		t.Errorf("decoded %+v", got)
	}
	if got, _ := metrics.Decode(b.String(), "C"); len(got) != 0 {
		t.Errorf("metric C decoded from %+v", got)
	}
}

// TestLocked: lines written from many goroutines are never interleaved.
func TestLocked(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	w := metrics.Locked(&b)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = metrics.Write(w, metrics.Line{Metrics: []metrics.Metric{{Name: "N", Value: float64(i)}}})
		}()
	}
	wg.Wait()
	got, err := metrics.Decode(b.String(), "N")
	if err != nil || len(got) != 50 {
		t.Errorf("%d lines decoded (%v)", len(got), err)
	}
}
