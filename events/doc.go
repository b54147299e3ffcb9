// Package events holds the recorded payloads of every event the functions receive (API Gateway
// requests, SQS records, schedules, DynamoDB stream batches, Meta's webhook bodies and the
// hostile-character catalogue), used by `sam local invoke -e`, `make invoke`, the tests and
// the replay tool. It has no code: its test keeps every file valid.
package events
