// Package faults holds the fault-injection suite (tests only): the whole inbound path wired
// like the deployed stack (webhook handler → events.fifo on fauxqs → processor handler →
// inbox service → DynamoDB Local, profiles from the Meta simulator) with failures injected
// around the real emulators: SQS SendMessageBatch behind queue.BatchSender, DynamoDB errors
// answered by an HTTP client wrapped around the SDK's own (so the SDK's retryer decides),
// Graph API faults through the simulator, crashes and errors around processor.Service.
// Every case checks the invariants: nothing lost, nothing duplicated, order kept per group.
package faults
