// Package app holds berth's command tree: `berth run` (the scheduler
// process: config, clients, informers, leader election, HTTP endpoints) and
// `berth version`. It is a package, not main, so integration tests can run
// a real berth in-process against a real API server.
package app
