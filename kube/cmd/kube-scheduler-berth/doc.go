// Command kube-scheduler-berth is kube-scheduler v1.37 with berth's own
// plugins (GPUShare, LoadAware, NodePreference, NetworkAware,
// StorageLocality) registered out of tree: berth's plugin mode, for
// clusters that keep kube-scheduler. It takes kube-scheduler's flags and
// configuration; a profile enables the berth plugins like any other and
// passes their args through pluginConfig.
//
//	kube-scheduler-berth --config kube-scheduler-config.yaml
//
// The plugins run through the adapters in package
// github.com/berthsched/berth/kube/plugins; see docs/plugin-mode.md.
package main
