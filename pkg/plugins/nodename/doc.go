// Package nodename provides NodeName, which confines a pod that names its
// node in spec.nodeName to that node. Such pods normally bypass the
// scheduler; they reach it when they are created bound but still need a
// fit check (for example a deferred in-place resize).
package nodename
