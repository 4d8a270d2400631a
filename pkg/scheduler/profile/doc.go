// Package profile builds and runs one scheduling profile: the plugins
// configured for a schedulerName, instantiated from the registry, sorted
// into their extension points, and run in the order and with the error
// handling the engine relies on.
//
// A Profile knows nothing about queues, caches or the API; it is the
// plugin runner the scheduling and binding cycles call. It recovers plugin
// panics (turning them into Error statuses, logged with a stack and
// counted), stamps plugin names on statuses and records extension-point
// metrics.
package profile
