package cost

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Usage is what one phase of the scenario consumed, summed over every function.
type Usage struct {
	Events int // events (or reply parts) the phase delivered

	DynamoDB map[string]*DynamoDBOp // by operation name
	SQS      map[string]*SQSOp      // by operation name ("ReceiveMessage" counts non-empty receives)
	// EmptyReceives are long polls of the event source mapping that returned nothing (a
	// fixed cost of the queue, not a cost per event).
	EmptyReceives int
	Lambda        map[string]*LambdaUse // by function
	HTTPRequests  int                   // HTTP API requests (webhook POSTs, API calls)
	Graph         map[string]int        // Graph API calls by "METHOD path"
	LogBytes      map[string]int64      // bytes each function wrote to its log
}

// DynamoDBOp counts one DynamoDB operation.
type DynamoDBOp struct {
	Calls      int
	Failed     int     // error answers (a lost condition, a cancelled transaction)
	ReadUnits  float64 // RCU on the table and its indexes
	WriteUnits float64 // WCU on the table
	IndexUnits float64 // WCU (or RCU for index queries) on global secondary indexes
}

// SQSOp counts one SQS operation.
type SQSOp struct {
	Calls   int // billed requests (one per call: a batch of 10 is one request)
	Entries int // messages sent, received or deleted
}

// LambdaUse is what one function's invocations took.
type LambdaUse struct {
	Invocations int
	BilledMS    int64 // each invocation's duration rounded up to the millisecond, summed
	MemoryMB    int
}

func newUsage() *Usage {
	return &Usage{DynamoDB: map[string]*DynamoDBOp{}, SQS: map[string]*SQSOp{}, Lambda: map[string]*LambdaUse{},
		Graph: map[string]int{}, LogBytes: map[string]int64{}}
}

// Recorder attributes everything the stack does to the current phase.
type Recorder struct {
	// forgetDedup: SendMessageBatch entries get a new deduplication id, as if SQS's 5-minute
	// deduplication window had passed (a retry of Meta's hours later).
	forgetDedup atomic.Bool

	mu     sync.Mutex
	phase  string
	phases map[string]*Usage
	order  []string
}

// NewRecorder returns a recorder whose first phase is "setup".
func NewRecorder() *Recorder {
	r := &Recorder{phases: map[string]*Usage{}}
	r.Phase("setup", 0)
	return r
}

// Phase makes name the current phase (events: how many events it will deliver).
func (r *Recorder) Phase(name string, events int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phase = name
	if r.phases[name] == nil {
		r.phases[name] = newUsage()
		r.order = append(r.order, name)
	}
	r.phases[name].Events += events
}

// Usage returns the usage of a phase (nil when it never ran). Read it when the stack is idle.
func (r *Recorder) Usage(name string) *Usage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.phases[name]
}

func (r *Recorder) with(f func(u *Usage)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r.phases[r.phase])
}

// invocation records one Lambda invocation of fn that took d.
func (r *Recorder) invocation(fn string, memoryMB int, d time.Duration) {
	ms := int64(math.Ceil(float64(d) / float64(time.Millisecond)))
	r.with(func(u *Usage) {
		l := u.Lambda[fn]
		if l == nil {
			l = &LambdaUse{MemoryMB: memoryMB}
			u.Lambda[fn] = l
		}
		l.Invocations++
		l.BilledMS += ms
	})
}

// LogWriter counts the bytes fn writes to its log (and forwards them to w when not nil).
func (r *Recorder) LogWriter(fn string, w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		r.with(func(u *Usage) { u.LogBytes[fn] += int64(len(p)) })
		if w != nil {
			return w.Write(p)
		}
		return len(p), nil
	})
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// GraphCounter wraps the Graph API (the simulator) and counts its calls; the simulator's own
// control paths (/_sim/...) are not Graph calls.
func (r *Recorder) GraphCounter(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !strings.HasPrefix(req.URL.Path, "/_sim/") {
			r.with(func(u *Usage) { u.Graph[req.Method+" "+graphPath(req.URL.Path)]++ })
		}
		next.ServeHTTP(w, req)
	})
}

// graphPath folds ids out of a Graph path: /v23.0/123/messages → /{version}/{id}/messages.
func graphPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		switch {
		case strings.HasPrefix(s, "v") && strings.Contains(s, "."):
			parts[i] = "{version}"
		case s != "" && strings.Trim(s, "0123456789") == "":
			parts[i] = "{id}"
		}
	}
	return strings.Join(parts, "/")
}

// AWSProxy returns a reverse proxy to an AWS JSON-protocol endpoint (DynamoDB Local or
// fauxqs) that counts every call by its X-Amz-Target operation. DynamoDB calls are asked for
// ReturnConsumedCapacity INDEXES (the emulator does not check request signatures, so the
// body can be amended) and the consumed units of every answer are summed per table and index.
func (r *Recorder) AWSProxy(target string) (http.Handler, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // a long poll cut short at the end of a run
	inner := rp.Director
	rp.Director = func(req *http.Request) {
		inner(req)
		req.Host = u.Host
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		ctx := resp.Request.Context()
		op, _ := ctx.Value(opKey{}).(string)
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		txUnits := -1.0
		if tx, ok := ctx.Value(txKey{}).(*transaction); ok && tx != nil && resp.StatusCode < 300 {
			txUnits = tx.after(ctx)
		}
		r.record(op, resp.StatusCode, body, txUnits)
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		svc, op, _ := strings.Cut(req.Header.Get("X-Amz-Target"), ".")
		if strings.HasPrefix(svc, "DynamoDB") {
			if b, err := io.ReadAll(req.Body); err == nil {
				if op == "TransactWriteItems" {
					if tx := newTransaction(target, b); tx != nil {
						tx.before(req.Context())
						req = req.WithContext(context.WithValue(req.Context(), txKey{}, tx))
					}
				}
				b = askCapacity(b)
				req.Body = io.NopCloser(bytes.NewReader(b))
				req.ContentLength = int64(len(b))
				req.Header.Set("Content-Length", strconv.Itoa(len(b)))
			}
			op = "dynamodb:" + op
		} else {
			op = "sqs:" + op
			if op == "sqs:SendMessageBatch" && r.forgetDedup.Load() {
				if b, err := io.ReadAll(req.Body); err == nil {
					b = newDedupIDs(b)
					req.Body = io.NopCloser(bytes.NewReader(b))
					req.ContentLength = int64(len(b))
					req.Header.Set("Content-Length", strconv.Itoa(len(b)))
				}
			}
		}
		rp.ServeHTTP(w, req.WithContext(contextWithOp(req.Context(), op)))
	}), nil
}

// askCapacity sets ReturnConsumedCapacity INDEXES on a DynamoDB request body.
func askCapacity(b []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return b
	}
	m["ReturnConsumedCapacity"] = json.RawMessage(`"INDEXES"`)
	out, err := json.Marshal(m)
	if err != nil {
		return b
	}
	return out
}

// newDedupIDs gives every entry of a SendMessageBatch body a deduplication id SQS has not
// seen in the last 5 minutes.
func newDedupIDs(b []byte) []byte {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return b
	}
	entries, _ := m["Entries"].([]any)
	for _, e := range entries {
		if em, ok := e.(map[string]any); ok {
			id, _ := em["MessageDeduplicationId"].(string)
			em["MessageDeduplicationId"] = "late-" + id[:min(len(id), 100)]
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return b
	}
	return out
}

type consumed struct {
	CapacityUnits float64
	Table         *struct{ CapacityUnits float64 }
	// GlobalSecondaryIndexes by index name.
	GlobalSecondaryIndexes map[string]struct{ CapacityUnits float64 }
}

var readOps = map[string]bool{"GetItem": true, "BatchGetItem": true, "Query": true, "Scan": true, "TransactGetItems": true}

// record counts one answer; txUnits, when not negative, replaces the table units the
// emulator reported for a transaction.
func (r *Recorder) record(op string, status int, body []byte, txUnits float64) {
	svc, name, _ := strings.Cut(op, ":")
	switch svc {
	case "dynamodb":
		var res struct{ ConsumedCapacity json.RawMessage }
		_ = json.Unmarshal(body, &res)
		var list []consumed
		if len(res.ConsumedCapacity) > 0 && res.ConsumedCapacity[0] == '[' {
			_ = json.Unmarshal(res.ConsumedCapacity, &list)
		} else if len(res.ConsumedCapacity) > 0 {
			var one consumed
			_ = json.Unmarshal(res.ConsumedCapacity, &one)
			list = append(list, one)
		}
		r.with(func(u *Usage) {
			d := u.DynamoDB[name]
			if d == nil {
				d = &DynamoDBOp{}
				u.DynamoDB[name] = d
			}
			d.Calls++
			if status >= 300 {
				d.Failed++
				// A write refused by its condition is billed (at least one unit); the emulator
				// reports nothing for it.
				if !readOps[name] && name != "TransactWriteItems" && bytes.Contains(body, []byte("ConditionalCheckFailed")) {
					d.WriteUnits++
				}
			}
			for _, c := range list {
				table, index := c.CapacityUnits, 0.0
				for _, g := range c.GlobalSecondaryIndexes {
					index += g.CapacityUnits
				}
				if c.Table != nil {
					table = c.Table.CapacityUnits
				} else {
					table -= index
				}
				if txUnits >= 0 {
					table = txUnits
				}
				if readOps[name] {
					d.ReadUnits += table + index
				} else {
					d.WriteUnits += table
					d.IndexUnits += index
				}
			}
		})
	case "sqs":
		entries := 0
		var res struct {
			Messages   []json.RawMessage
			Successful []json.RawMessage
		}
		_ = json.Unmarshal(body, &res)
		entries = len(res.Messages) + len(res.Successful)
		r.with(func(u *Usage) {
			if name == "ReceiveMessage" && entries == 0 {
				u.EmptyReceives++
				return
			}
			q := u.SQS[name]
			if q == nil {
				q = &SQSOp{}
				u.SQS[name] = q
			}
			q.Calls++
			if entries == 0 && status < 300 && name != "ReceiveMessage" {
				entries = 1
			}
			q.Entries += entries
		})
	}
}

// Ops lists map keys in a stable order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
