package eventbus_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/iginbox/iginbox/local/eventbus"
	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/publisher"
)

func schemas(t *testing.T) *eventbus.Schemas {
	t.Helper()
	s, err := eventbus.LoadSchemas("../../docs/events")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The schemas cover exactly the catalogue.
func TestSchemasCoverTheCatalogue(t *testing.T) {
	t.Parallel()
	got := schemas(t).DetailTypes()
	want := slices.Clone(publisher.DetailTypes)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("schemas for %v, catalogue %v", got, want)
	}
}

// Every README example is valid, and every detail type has one.
func TestReadmeExamplesMatchTheirSchemas(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "## Events out")
	end := strings.Index(readme[start+1:], "\n## ")
	if start < 0 || end < 0 {
		t.Fatal("README has no Events out section")
	}
	section := readme[start : start+1+end]
	s := schemas(t)
	re := regexp.MustCompile("(?s)#### `([a-z_.]+)`\n\n(?:.*?\n\n)??```json\n(.*?)\n```")
	seen := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(section, -1) {
		detailType, raw := m[1], m[2]
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(raw), &obj); err != nil {
			t.Fatalf("%s example: %v", detailType, err)
		}
		detail := []byte(raw)
		if d, ok := obj["detail"]; ok {
			var dt string
			_ = json.Unmarshal(obj["detail-type"], &dt)
			if dt != detailType {
				t.Errorf("%s example has detail-type %q", detailType, dt)
			}
			detail = d
		}
		if err := s.Validate(detailType, detail); err != nil {
			t.Errorf("%s example: %v", detailType, err)
		}
		seen[detailType] = true
	}
	for _, dt := range publisher.DetailTypes {
		if !seen[dt] {
			t.Errorf("README has no example of %s", dt)
		}
	}
}

// Details the schemas must refuse: the assertions can fail.
func TestSchemasRefuse(t *testing.T) {
	t.Parallel()
	s := schemas(t)
	common := `"schema_version":1,"event_id":"0123456789abcdef0123456789abcdef","occurred_at":"2026-01-01T00:00:00.000Z","channel_id":"1"`
	channel := `{"id":"1","username":"u","name":"n","token_expires_at":"2026-01-01T00:00:00Z","reauth_required":false,"lock_to_single_conversation":false,"subscribed":true,"connected_at":"2026-01-01T00:00:00Z"`
	for name, tc := range map[string]struct{ detailType, detail string }{
		"no event_id":        {"channel.connected", `{"schema_version":1,"occurred_at":"2026-01-01T00:00:00.000Z","channel_id":"1","channel":` + channel + `}}`},
		"token in a channel": {"channel.connected", `{` + common + `,"channel":` + channel + `,"access_token":"IGAA"}}`},
		"unknown status":     {"conversation.status_changed", `{` + common + `,"conversation_id":"0123456789abcdef01234567","status":"closed","previous_status":"open","conversation":{}}`},
		"not a time":         {"channel.connected", `{"schema_version":1,"event_id":"0123456789abcdef0123456789abcdef","occurred_at":"yesterday","channel_id":"1","channel":` + channel + `}}`},
		"unknown type":       {"message.created", `{` + common + `}`},
	} {
		if err := s.Validate(tc.detailType, []byte(tc.detail)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The real SDK client puts events on the local bus; the list filters by detail type and
// since, oldest first; each event is forwarded to the forward URL; PutEvents' limits hold.
func TestPutEventsListAndForward(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var forwarded []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		forwarded = append(forwarded, string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	bus := eventbus.New(eventbus.Options{ForwardURL: hook.URL})
	srv := httptest.NewServer(bus)
	defer srv.Close()
	client := eventbridge.NewFromConfig(testenv.AWSConfig(t), func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	ctx := context.Background()
	entry := func(dt, detail string) ebtypes.PutEventsRequestEntry {
		return ebtypes.PutEventsRequestEntry{Source: aws.String("iginbox"), DetailType: aws.String(dt), Detail: aws.String(detail), EventBusName: aws.String("b"),
			Time: aws.Time(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
	}
	out, err := client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		entry("a.one", `{"n":1,"text":"😂 مرحبا"}`), entry("b.two", `{"n":2}`), entry("a.one", `not json`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 1 || out.Entries[2].ErrorCode == nil || out.Entries[0].EventId == nil {
		t.Fatalf("out %+v", out)
	}
	mid := time.Now()
	time.Sleep(2 * time.Millisecond)
	if _, err := client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry("a.one", `{"n":3}`)}}); err != nil {
		t.Fatal(err)
	}
	eleven := make([]ebtypes.PutEventsRequestEntry, 11)
	for i := range eleven {
		eleven[i] = entry("a.one", `{}`)
	}
	if _, err := client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: eleven}); err == nil {
		t.Fatal("11 entries accepted")
	}

	get := func(q string) []eventbus.Event {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/_local/events?"+q, nil)
		bus.EventsHandler().ServeHTTP(rec, req)
		var evs []eventbus.Event
		if err := json.Unmarshal(rec.Body.Bytes(), &evs); err != nil {
			t.Fatalf("%s: %v", rec.Body.String(), err)
		}
		return evs
	}
	all := get("")
	if len(all) != 3 || all[0].DetailType != "a.one" || all[1].DetailType != "b.two" || all[0].Time != "2026-01-02T03:04:05Z" {
		t.Fatalf("all = %+v", all)
	}
	var d struct{ Text string }
	if err := json.Unmarshal(all[0].Detail, &d); err != nil || d.Text != "😂 مرحبا" {
		t.Fatalf("detail %s", all[0].Detail)
	}
	if got := get("detail_type=a.one"); len(got) != 2 {
		t.Fatalf("a.one: %d", len(got))
	}
	if got := get("since=" + mid.UTC().Format(time.RFC3339Nano)); len(got) != 1 || string(got[0].Detail) != `{"n":3}` {
		t.Fatalf("since time: %+v", got)
	}
	if got := get("since=" + all[0].ID); len(got) != 2 {
		t.Fatalf("since id: %+v", got)
	}
	bus.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(forwarded) != 3 || !strings.Contains(forwarded[0], `"detail-type":"a.one"`) {
		t.Fatalf("forwarded %v", forwarded)
	}
}
