package store

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/iginbox/iginbox/shared/domain"
)

func TestChannelNeverShowsItsToken(t *testing.T) {
	t.Parallel()
	const token = "IGAAtoken-secret-value"
	ch := domain.Channel{ID: "17841400000000001", Username: "shop", AccessToken: token}

	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("channel", "channel", ch)
	js, err := json.Marshal(ch)
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"log": logs.String(), "json": string(js)} {
		if strings.Contains(out, token) {
			t.Errorf("%s output contains the access token", name)
		}
		if !strings.Contains(out, "17841400000000001") {
			t.Errorf("%s output lost the channel id: %s", name, out)
		}
	}
}
