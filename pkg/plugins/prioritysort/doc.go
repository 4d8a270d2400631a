// Package prioritysort provides PrioritySort, the default QueueSort plugin:
// pods with a higher priority are popped first, and among equal priorities
// the one queued earlier goes first, which keeps the queue fair and stable.
package prioritysort
