// Package version reports what berth binary this is: its own version and
// git commit (stamped at build time with -ldflags -X) and the Kubernetes
// client library version it was built against (read from the build info),
// which is what matters when matching berth to a cluster.
package version
