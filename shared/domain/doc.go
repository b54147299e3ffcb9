// Package domain is the vocabulary of iginbox: channels, contacts, conversations, messages,
// reply parts, agent keys and sessions, their statuses and ids, the errors callers branch on,
// and Tx, a decision written as data (write intents with their conditions) that a store
// applies all or nothing. The domain packages (inbox, outbound, api, …) speak it and declare
// the store interfaces they need over it; the DynamoDB adapter (package store) imports it and
// implements them.
//
// It imports nothing of AWS. The dynamodbav struct tags name the stored attributes: they are
// the stored data's contract, so they stay on these types and change only with the data.
package domain
