// Package metrics writes CloudWatch embedded metric format (EMF) lines: one JSON object per
// line on the function's stdout, which CloudWatch Logs turns into metrics without an API call.
// Format: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of iginbox's metrics.
const Namespace = "iginbox"

// UnitCount is the unit of counters.
const UnitCount = "Count"

// Names of metrics emitted by more than one package (alarms in template.yaml depend on them).
const (
	// ChannelsFlaggedForReauth counts channels flagged reauth_required (a dead token must be
	// seen): by the refresher, and by the processor on a dead token (profile lookup, send).
	ChannelsFlaggedForReauth = "ChannelsFlaggedForReauth"
)

// Metric is one value of a line.
type Metric struct {
	Name  string
	Value float64
	Unit  string // UnitCount when empty
}

// Dimension is one dimension of a line (its name and value).
type Dimension struct{ Name, Value string }

// Line is one EMF line: every metric under one dimension set (Stage, Function and
// Dimensions), plus properties that are logged (searchable in Logs Insights) but are not
// dimensions.
type Line struct {
	Namespace  string // Namespace when empty
	Time       time.Time
	Dimensions []Dimension
	Metrics    []Metric
	Properties map[string]any
}

// Writer writes the EMF lines of one function in one stage: every line carries the dimensions
// Stage and Function before its own, so that alarms and dashboards select a stage. Each line
// is one Write call, and lines written from many goroutines never interleave. A nil *Writer
// writes nothing.
type Writer struct {
	mu       sync.Mutex
	out      io.Writer
	stage    string
	function string
}

// NewWriter returns the Writer of function in stage, writing to out (os.Stdout in Lambda,
// where CloudWatch Logs picks the lines up).
func NewWriter(out io.Writer, stage, function string) *Writer {
	return &Writer{out: out, stage: stage, function: function}
}

// Emit writes l as one JSON line.
func (w *Writer) Emit(l Line) error {
	if w == nil {
		return nil
	}
	l.Dimensions = append([]Dimension{{Name: "Stage", Value: w.stage}, {Name: "Function", Value: w.function}}, l.Dimensions...)
	b, err := encode(l)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.out.Write(b); err != nil {
		return fmt.Errorf("write metric line: %w", err)
	}
	return nil
}

// encode returns l as one JSON line.
func encode(l Line) ([]byte, error) {
	if l.Namespace == "" {
		l.Namespace = Namespace
	}
	obj := make(map[string]any, len(l.Properties)+len(l.Dimensions)+len(l.Metrics)+1)
	for k, v := range l.Properties {
		obj[k] = v
	}
	dimNames := make([]string, 0, len(l.Dimensions))
	for _, d := range l.Dimensions {
		dimNames = append(dimNames, d.Name)
		obj[d.Name] = d.Value
	}
	defs := make([]map[string]string, 0, len(l.Metrics))
	for _, m := range l.Metrics {
		unit := m.Unit
		if unit == "" {
			unit = UnitCount
		}
		defs = append(defs, map[string]string{"Name": m.Name, "Unit": unit})
		obj[m.Name] = m.Value
	}
	obj["_aws"] = map[string]any{
		"Timestamp": l.Time.UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{
			"Namespace":  l.Namespace,
			"Dimensions": [][]string{dimNames},
			"Metrics":    defs,
		}},
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode metric line: %w", err)
	}
	return append(b, '\n'), nil
}

// Decoded is an EMF line read back (tests, tools): its directive and its top-level fields.
type Decoded struct {
	Namespace  string
	Dimensions [][]string
	Units      map[string]string // metric name → unit
	Fields     map[string]any    // every top-level field but _aws: values, dimensions, properties
}

// Decode returns the EMF lines of out (one JSON object per line; other lines are skipped)
// that define the metric name.
func Decode(out, name string) ([]Decoded, error) {
	var found []Decoded
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var raw struct {
			AWS *struct {
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name, Unit string }
				}
			} `json:"_aws"`
		}
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			return nil, fmt.Errorf("decode metric line %q: %w", line, err)
		}
		if raw.AWS == nil {
			continue
		}
		for _, d := range raw.AWS.CloudWatchMetrics {
			units := map[string]string{}
			for _, m := range d.Metrics {
				units[m.Name] = m.Unit
			}
			if _, ok := units[name]; !ok {
				continue
			}
			fields := map[string]any{}
			if err := json.Unmarshal([]byte(line), &fields); err != nil {
				return nil, fmt.Errorf("decode metric line %q: %w", line, err)
			}
			delete(fields, "_aws")
			found = append(found, Decoded{Namespace: d.Namespace, Dimensions: d.Dimensions, Units: units, Fields: fields})
		}
	}
	return found, nil
}
