// Package plugintest gives plugin unit tests the engine's own runners: a
// profile assembled from plugin instances and a framework.PreemptionHandle
// whose filter runner is core.FilterRunner, the one filter path berth has.
// It is separate from internal/st (builders only) because it imports the
// engine, which the engine's own tests must be able to do without a cycle.
package plugintest
