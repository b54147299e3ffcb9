package metasim_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iginbox/iginbox/local/metasim"
)

const simSecret = "sim-app-secret"

// hookRecorder is a webhook endpoint that checks signatures and keeps the bodies.
type hookRecorder struct {
	mu     sync.Mutex
	bodies []map[string]any
	bad    int
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	mac := hmac.New(sha256.New, []byte(simSecret))
	mac.Write(b)
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Header.Get("X-Hub-Signature-256") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		h.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var v map[string]any
	_ = json.Unmarshal(b, &v)
	h.bodies = append(h.bodies, v)
}

func (h *hookRecorder) items() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]any
	for _, b := range h.bodies {
		for _, e := range b["entry"].([]any) {
			for _, it := range e.(map[string]any)["messaging"].([]any) {
				out = append(out, it.(map[string]any))
			}
		}
	}
	return out
}

func newSendSim(t *testing.T) (*metasim.Simulator, *httptest.Server, *hookRecorder, string) {
	t.Helper()
	hooks := &hookRecorder{}
	hookSrv := httptest.NewServer(hooks)
	t.Cleanup(hookSrv.Close)
	sim := metasim.New(metasim.Config{AppSecret: simSecret, WebhookURL: hookSrv.URL, EchoDelay: time.Millisecond})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Wait(); srv.Close() })
	return sim, srv, hooks, sim.IssueToken(metasim.DefaultAccountID)
}

func TestSendAndEcho(t *testing.T) {
	t.Parallel()
	sim, srv, hooks, token := newSendSim(t)
	auth := map[string]string{"Authorization": "Bearer " + token}
	status, body := do(t, srv, "POST", "/v23.0/me/messages", `{"recipient":{"id":"555"},"message":{"text":"hello"}}`, auth)
	if status != 200 || body["recipient_id"] != "555" || body["message_id"] == "" {
		t.Fatalf("%d %v", status, body)
	}
	mid := body["message_id"].(string)
	status, body = do(t, srv, "POST", "/v23.0/me/messages", `{"recipient":{"id":"555"},"message":{"attachment":{"type":"image","payload":{"url":"https://x/a.jpg"}}},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT"}`, auth)
	if status != 200 || body["message_id"] == mid {
		t.Fatalf("%d %v", status, body)
	}
	sim.Wait()
	if sim.SentTo("555") != 2 || sim.Snapshot().Sent["555"] != 2 {
		t.Errorf("sent counter %d", sim.SentTo("555"))
	}
	items := hooks.items()
	if len(items) != 2 || hooks.bad != 0 {
		t.Fatalf("echoes %v (bad signatures %d)", items, hooks.bad)
	}
	for _, it := range items {
		msg := it["message"].(map[string]any)
		if it["sender"].(map[string]any)["id"] != metasim.DefaultAccountID || it["recipient"].(map[string]any)["id"] != "555" || msg["is_echo"] != true {
			t.Errorf("echo shape %v", it)
		}
		if msg["mid"] == mid && msg["text"] != "hello" {
			t.Errorf("text echo %v", msg)
		}
		if msg["mid"] != mid {
			atts := msg["attachments"].([]any)
			if len(atts) != 1 || atts[0].(map[string]any)["type"] != "image" {
				t.Errorf("attachment echo %v", msg)
			}
		}
	}
}

func TestSendFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		fault     metasim.Fault
		status    int
		code, sub float64
	}{
		{"190", metasim.Fault{Code: 190}, 400, 190, 0},
		{"4", metasim.Fault{Code: 4}, 403, 4, 0},
		{"613", metasim.Fault{Code: 613, Subcode: 2534040}, 400, 613, 2534040},
		{"10 window", metasim.Fault{Code: 10, Subcode: 2534022}, 400, 10, 2534022},
		{"551", metasim.Fault{Code: 551}, 400, 551, 0},
		{"5xx", metasim.Fault{Code: 502}, 502, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim, srv, hooks, token := newSendSim(t)
			f := tc.fault
			f.Path, f.Times = "/v23.0/me/messages", 1
			sim.AddFault(f)
			status, body := do(t, srv, "POST", "/v23.0/me/messages", `{"recipient":{"id":"555"},"message":{"text":"x"}}`, map[string]string{"Authorization": "Bearer " + token})
			if status != tc.status {
				t.Fatalf("status %d want %d", status, tc.status)
			}
			if code, sub := graphError(t, body); code != tc.code || sub != tc.sub {
				t.Errorf("code %v/%v", code, sub)
			}
			sim.Wait()
			if sim.SentTo("555") != 0 || len(hooks.items()) != 0 {
				t.Error("a failed send was accepted or echoed")
			}
		})
	}
}

func TestSendTimeoutAfterAccept(t *testing.T) {
	t.Parallel()
	sim, srv, hooks, token := newSendSim(t)
	status, _ := do(t, srv, "POST", "/_sim/faults", `{"path":"/v23.0/me/messages","timeout_after_accept":true,"delay_ms":2000,"times":1}`, nil)
	if status != 200 {
		t.Fatalf("fault: %d", status)
	}
	client := &http.Client{Timeout: 200 * time.Millisecond}
	req, _ := http.NewRequest("POST", srv.URL+"/v23.0/me/messages", jsonBody(`{"recipient":{"id":"777"},"message":{"text":"x"}}`))
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the answer came before the client's timeout")
	}
	sim.Wait()
	if sim.SentTo("777") != 1 || len(hooks.items()) != 1 {
		t.Errorf("accepted %d, echoes %d; want 1 and 1", sim.SentTo("777"), len(hooks.items()))
	}
	// The fault was used once: the next send answers at once.
	if status, body := do(t, srv, "POST", "/v23.0/me/messages", `{"recipient":{"id":"777"},"message":{"text":"y"}}`, map[string]string{"Authorization": "Bearer " + token}); status != 200 {
		t.Errorf("%d %v", status, body)
	}
}

func TestSimReadAndMessage(t *testing.T) {
	t.Parallel()
	_, srv, hooks, _ := newSendSim(t)
	status, body := do(t, srv, "POST", "/_sim/message", `{"igsid":"888","text":"hi there"}`, nil)
	if status != 200 || body["mid"] == "" {
		t.Fatalf("%d %v", status, body)
	}
	if status, _ := do(t, srv, "POST", "/_sim/read", `{"igsid":"888","mid":"m1"}`, nil); status != 200 {
		t.Fatalf("read: %d", status)
	}
	items := hooks.items()
	if len(items) != 2 {
		t.Fatalf("%v", items)
	}
	if m := items[0]["message"].(map[string]any); m["text"] != "hi there" || items[0]["sender"].(map[string]any)["id"] != "888" {
		t.Errorf("message webhook %v", items[0])
	}
	if r := items[1]["read"].(map[string]any); r["mid"] != "m1" || items[1]["recipient"].(map[string]any)["id"] != metasim.DefaultAccountID {
		t.Errorf("read webhook %v", items[1])
	}
	if status, _ := do(t, srv, "POST", "/_sim/read", `{"igsid":"x"}`, nil); status != 400 {
		t.Errorf("bad read request: %d", status)
	}
}

func jsonBody(s string) io.Reader { return strings.NewReader(s) }

func TestMetaJSON(t *testing.T) {
	t.Parallel()
	text := "😂 José مرحبا\u200f 王 \ufffe\u0000 <a href=\"x/y\">&</a>"
	raw, _ := json.Marshal(map[string]string{"text": text})
	out := metasim.MetaJSON(raw)
	for i, c := range out {
		if c < 0x20 || c > 0x7e {
			t.Fatalf("byte %d is %#x: %s", i, c, out)
		}
	}
	if !strings.Contains(string(out), `\ud83d\ude02`) || !strings.Contains(string(out), `x\/y`) {
		t.Errorf("not escaped like Meta: %s", out)
	}
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil || got["text"] != text {
		t.Errorf("text changed: %+q (%v)", got["text"], err)
	}
}
