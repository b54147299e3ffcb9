package testenv

import "testing"

func TestSmoke(t *testing.T) {
	db := DynamoDB(t)
	if Table(t, db) == "" {
		t.Fatal("no table")
	}
	q := FIFOQueues(t, SQS(t), 30, 5)
	if q.URL == "" || q.DLQURL == "" {
		t.Fatal("no queue")
	}
}
