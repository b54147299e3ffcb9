package inbox_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/domain"
	"github.com/iginbox/iginbox/shared/graph"
	"github.com/iginbox/iginbox/shared/inbox"
	"github.com/iginbox/iginbox/shared/metrics"
	"github.com/iginbox/iginbox/shared/processor"
)

func errCode(code, subcode int) error {
	return &graph.Error{Op: "get profile", HTTPStatus: 400, Code: code, Subcode: subcode, Message: "meta says no"}
}

func errTransient() error {
	return &graph.Error{Op: "get profile", HTTPStatus: 503, Code: 2, Message: "Service temporarily unavailable"}
}

func sqsEvent(recs ...events.SQSMessage) events.SQSEvent { return events.SQSEvent{Records: recs} }

func (f *fixture) svcLog() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

// No incoming message is dropped because a profile lookup failed.
func TestProfileErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		err          error
		receiveCount int
		wantRetry    bool
		wantName     string
		wantUnknown  bool
		wantStatus   string
		wantReauth   bool
	}{
		{"ok", nil, 1, false, "Name 2001", false, domain.ProfileOK, false},
		{"9010 no matching user", errCode(9010, 0), 1, false, "Unknown (IG: 2001)", true, domain.ProfileUnknown, false},
		{"100 object missing", errCode(100, 33), 1, false, "Unknown (IG: 2001)", true, domain.ProfileUnknown, false},
		{"230 consent required", errCode(230, 0), 1, false, "", false, domain.ProfileConsent, false},
		{"190 token dead", errCode(190, 460), 1, false, "", false, domain.ProfileMinimal, true},
		{"transient retried", errTransient(), 1, true, "", false, "", false},
		{"rate limited retried", errCode(4, 0), 2, true, "", false, "", false},
		{"transient on the last delivery", errTransient(), 5, false, "", false, domain.ProfileMinimal, false},
		{"unexpected graph error", errCode(10, 0), 1, false, "", false, domain.ProfileMinimal, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			const c = "2001"
			f.profiles.setErr(c, tc.err)
			ctx := processor.WithReceiveCount(context.Background(), tc.receiveCount)
			err := f.svc.Handle(ctx, envs(t, acct, text(c, ms(time.Second), mid("p"), "hi"))[0])
			if tc.wantRetry {
				if err == nil {
					t.Fatal("want an error (retry via the queue)")
				}
				if n := len(f.conversations(nil)); n != 0 {
					t.Errorf("stored before the profile: %d conversations", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			conv := f.onlyConversation(c)
			if conv.Contact.Name != tc.wantName || conv.Contact.Unknown != tc.wantUnknown {
				t.Errorf("contact %+v", conv.Contact)
			}
			contact, err := f.st.GetContact(ctx, acct, c)
			if err != nil || contact.ProfileStatus != tc.wantStatus {
				t.Errorf("profile status %q (%v), want %q", contact.ProfileStatus, err, tc.wantStatus)
			}
			if len(f.messages(conv.ID)) != 1 {
				t.Error("message not stored")
			}
			ch, err := f.st.GetChannel(ctx, acct)
			if err != nil || ch.ReauthRequired != tc.wantReauth {
				t.Errorf("reauth_required %v (%v), want %v", ch.ReauthRequired, err, tc.wantReauth)
			}
			assertReauthMetric(t, f.metrics.String(), tc.wantReauth)
		})
	}
}

// 230 gives a contact known by IGSID only; a later event fills the profile.
func TestConsentThenLaterProfile(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const c = "2002"
	f.profiles.setErr(c, errCode(230, 0))
	f.handle(echo(c, ms(time.Second), mid("e"), "hello first"))
	if got := f.onlyConversation(c).Contact; got.Name != "" || got.IGSID != c {
		t.Fatalf("contact after 230: %+v", got)
	}
	f.profiles.setErr(c, nil)
	f.handle(text(c, ms(2*time.Second), mid("m"), "hi"))
	if got := f.onlyConversation(c).Contact; got.Name != "Name "+c || got.Username != "user"+c {
		t.Errorf("profile not filled later: %+v", got)
	}
}

// A reauth_required channel still stores incoming messages (without calling Meta).
func TestReauthChannelStillStores(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if err := f.st.FlagReauth(context.Background(), acct, "test", t0); err != nil {
		t.Fatal(err)
	}
	f.handle(text("2003", ms(time.Second), mid("m"), "still here"))
	if m := f.message("2003", mid("m")); m.Text != "still here" {
		t.Errorf("message %+v", m)
	}
	if f.profiles.count("2003") != 0 {
		t.Error("profile fetched with a dead token")
	}
}

// Profiles are refreshed only when older than ProfileMaxAge.
func TestProfileRefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *inbox.Config) { c.ProfileMaxAge = time.Hour })
	const c = "2004"
	f.handle(text(c, ms(time.Second), mid("1"), "a"))
	f.advance(30 * time.Minute)
	f.handle(text(c, ms(2*time.Second), mid("2"), "b"), read(c, ms(3*time.Second), mid("2")), reaction(c, ms(3*time.Second), mid("2"), "react", "❤"))
	if n := f.profiles.count(c); n != 1 {
		t.Fatalf("fetched %d times within max age, want 1", n)
	}
	f.advance(31 * time.Minute)
	f.handle(text(c, ms(4*time.Second), mid("3"), "c"))
	if n := f.profiles.count(c); n != 2 {
		t.Fatalf("fetched %d times after max age, want 2", n)
	}
	// A failed refresh keeps the stored profile and the message.
	f.advance(2 * time.Hour)
	f.profiles.setErr(c, errTransient())
	f.handle(text(c, ms(5*time.Second), mid("4"), "d"))
	if got := f.onlyConversation(c).Contact; got.Name != "Name "+c {
		t.Errorf("profile lost on failed refresh: %+v", got)
	}
}

// The real Graph client against Meta's documented bodies: every profile answer ends in a
// stored message.
func TestProfileThroughGraphClient(t *testing.T) {
	t.Parallel()
	answers := map[string]struct {
		status int
		body   string
	}{
		"5001": {200, `{"name":"Ana","username":"ana.shop","profile_pic":"https://cdn/ana","follower_count":12,"is_user_follow_business":true,"is_business_follow_user":false,"is_verified_user":false,"id":"5001"}`},
		"5002": {400, `{"error":{"message":"No matching Instagram user","type":"IGApiException","code":9010,"fbtrace_id":"A1"}}`},
		"5003": {400, `{"error":{"message":"(#230) User consent is required to access user profile","type":"OAuthException","code":230,"fbtrace_id":"A2"}}`},
		"5004": {400, `{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"A3"}}`},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		igsid := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		a, ok := answers[igsid]
		if !ok || r.URL.Query().Get("access_token") != testToken || !strings.Contains(r.URL.Query().Get("fields"), "username") {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"message":"bad request","type":"OAuthException","code":100}}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	f := newFixture(t)
	svc := inbox.New(f.st, f.st, graph.New(graph.Config{BaseURL: srv.URL}), inbox.Config{}, f.svcLog())
	for _, igsid := range []string{"5001", "5002", "5003", "5004"} {
		for _, e := range envs(t, acct, text(igsid, ms(time.Second), mid("g"+igsid), "hi")) {
			if err := svc.Handle(context.Background(), e); err != nil {
				t.Fatalf("%s: %v", igsid, err)
			}
		}
	}
	want := map[string]api.ContactJSON{
		"5001": {IGSID: "5001", Name: "Ana", Username: "ana.shop"},
		"5002": {IGSID: "5002", Name: "Unknown (IG: 5002)", Unknown: true},
		"5003": {IGSID: "5003"},
		"5004": {IGSID: "5004"},
	}
	for igsid, w := range want {
		if got := f.onlyConversation(igsid).Contact; got != w {
			t.Errorf("%s: contact %+v, want %+v", igsid, got, w)
		}
	}
	ch, err := f.st.GetChannel(context.Background(), acct)
	if err != nil || !ch.ReauthRequired {
		t.Errorf("190 did not flag the channel: %+v %v", ch.ReauthRequired, err)
	}
}

// assertReauthMetric checks the EMF output of the processor: one ChannelsFlaggedForReauth line
// when a channel was flagged, with the namespace and dimensions ChannelsReauthAlarm reads
// (template.yaml), none otherwise.
func assertReauthMetric(t *testing.T, out string, flagged bool) {
	t.Helper()
	lines, err := metrics.Decode(out, metrics.ChannelsFlaggedForReauth)
	if err != nil {
		t.Fatal(err)
	}
	if !flagged {
		if len(lines) != 0 {
			t.Errorf("ChannelsFlaggedForReauth emitted without a flag: %+v", lines)
		}
		return
	}
	if len(lines) != 1 {
		t.Fatalf("%d ChannelsFlaggedForReauth lines, want 1:\n%s", len(lines), out)
	}
	l := lines[0]
	if l.Namespace != "iginbox" || fmt.Sprint(l.Dimensions) != "[[Stage Function]]" || l.Fields["Stage"] != "test" ||
		l.Fields["Function"] != "processor" || l.Fields[metrics.ChannelsFlaggedForReauth] != float64(1) || l.Fields["account_id"] != acct {
		t.Errorf("ChannelsFlaggedForReauth line %+v", l)
	}
}
