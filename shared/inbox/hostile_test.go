package inbox_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/iginbox/iginbox/local/testenv"
	"github.com/iginbox/iginbox/shared/api"
	"github.com/iginbox/iginbox/shared/envelope"
	"github.com/iginbox/iginbox/shared/webhook"
)

// Every character survives: every body of the hostile-character catalogue (events/hostile), as Meta
// escapes it and as raw UTF-8, goes webhook parse → queue body → processor → store → API and
// comes back exactly, code point by code point; the queue bodies are ASCII.
func TestHostileCatalogue(t *testing.T) {
	t.Parallel()
	files, err := testenv.HostileFiles(filepath.Join("..", "..", "events"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	const contact, twin = "5550007770000017", "5550007770000027"
	var exps []testenv.Expectation
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := testenv.RawTwin(body, contact, twin, ".raw")
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range [][]byte{body, raw} {
			e, err := testenv.HostileExpectations(b)
			if err != nil {
				t.Fatal(err)
			}
			exps = append(exps, e...)
			batch, err := webhook.Parse(b)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			for _, env := range batch.Events {
				q, err := envelope.Encode(env)
				if err != nil {
					t.Fatal(err)
				}
				for i, c := range q {
					if c < 0x20 || c > 0x7e {
						t.Fatalf("%s: queue body byte %d is %#x", file, i, c)
					}
				}
				dec, err := envelope.Decode(q)
				if err != nil {
					t.Fatal(err)
				}
				if err := f.svc.Handle(context.Background(), dec); err != nil {
					t.Fatalf("%s: %v", file, err)
				}
			}
		}
	}
	byMID := map[string]api.MessageJSON{}
	for _, c := range f.conversations(nil) {
		for _, m := range f.messages(c.ID) {
			byMID[m.MID] = m
		}
	}
	if len(exps) < 80 {
		t.Fatalf("only %d expectations: catalogue not read", len(exps))
	}
	for _, p := range testenv.CheckHostile(testenv.JSONValues(t, byMID), exps) {
		t.Error(p)
	}
	// A lone surrogate is stored as U+FFFD.
	if m := byMID[mid2("lone-1")]; m.Text != "a\ufffdb" {
		t.Errorf("lone surrogate stored as %+q, want U+FFFD", m.Text)
	}
}

func mid2(name string) string {
	return "aWdfbWVzc2FnZV9pdGVtOjE6SUdNZXNzYWdlVGhyZWFkOjE3ODQxNDAwMDAwMDAwMDAxOmhvc3RpbGUt" + name
}
