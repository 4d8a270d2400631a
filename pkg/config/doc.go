// Package config loads berth's configuration: a kubescheduler.config.k8s.io/v1
// KubeSchedulerConfiguration (the upstream types from k8s.io/kube-scheduler),
// so that operators reuse what they know and what they already have.
//
// Loading is three separate steps, in this order:
//
//  1. Decode: strict YAML/JSON decoding; unknown fields are errors with their
//     path, never silently ignored.
//  2. Default: fill in what the file leaves out (berth's default profile is
//     named "berth" and enables the default plugin set through multiPoint),
//     and merge each profile's plugin sets with the defaults the way
//     kube-scheduler does.
//  3. Validate: return every problem at once, each with its field path
//     (unknown plugin names, bad plugin args, unsupported fields, bad
//     numbers), so a broken config is fixed in one round trip.
package config
