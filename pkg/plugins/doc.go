// Package plugins assembles berth's in-tree plugin registry. Each plugin
// lives in its own package below this one; this package only lists them,
// explicitly, for main to hand to the engine (no init-time registration).
package plugins
