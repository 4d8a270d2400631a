// Package nodepreference is the NodePreference plugin: operator-written
// rule sets that make pods prefer, or require, nodes by their labels —
// "database pods prefer NVMe over SSD, and the more IOPS the better" —
// with numeric scoring (linear or logarithmic over a label's value) that
// kube-scheduler's node affinity, with its fixed weights, cannot express.
//
// It is a thin adapter over pkg/placement/preference, which owns the rule
// model, pod selection, matching, scoring and validation. A pod is
// governed by the rule set its berth.io/node-preference annotation names,
// else by every set whose selector matches it, else by none (the plugin
// then does nothing for it). PreFilter resolves that once per cycle;
// Filter applies the required rules, Score the preferred ones (0..100,
// no normalisation), and explain shows each rule's contribution.
//
// Verdicts and scores depend only on the pod (its namespace, labels and
// annotation, which the plugin adds to the pod's signature) and the
// node's labels, so the plugin is a framework.NodeLocalPlugin.
package nodepreference
