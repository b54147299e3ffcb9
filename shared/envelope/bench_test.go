package envelope_test

import (
	"encoding/json"
	"testing"

	"github.com/iginbox/iginbox/shared/envelope"
)

// BenchmarkDecode is the processor's first step per record: decode and validate the queued
// envelope (a text message with a long mid, as the webhook enqueues it).
func BenchmarkDecode(b *testing.B) {
	raw := json.RawMessage(`{"sender":{"id":"1287461239847612"},"recipient":{"id":"17841400000000001"},"timestamp":1763802000123,"message":{"mid":"aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjA1MzIxNTA5NDg5NjY0MzozMjQ1NjM1NDc2NTQzMjE0NTY3ODk4NzY1NDMyMTAwMAZDZD","text":"Hi! Is this still available?"}}`)
	body, err := json.Marshal(envelope.Envelope{V: envelope.Version, Kind: envelope.KindMessage, AccountID: "17841400000000001",
		ContactID: "1287461239847612", Key: "17841400000000001|message|aWdfZAG1", Timestamp: 1763802000123, Raw: raw})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := envelope.Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}
