package config

import (
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	configv1 "k8s.io/kube-scheduler/config/v1"
)

// DefaultSchedulerName is the schedulerName of berth's default profile. It
// is not "default-scheduler" so berth can run beside kube-scheduler.
const DefaultSchedulerName = "berth"

// ExtensionPoint names an extension point as in the config file.
type ExtensionPoint string

// The extension points, in the order the scheduling and binding cycles run.
const (
	PreEnqueue ExtensionPoint = "preEnqueue"
	QueueSort  ExtensionPoint = "queueSort"
	PreFilter  ExtensionPoint = "preFilter"
	Filter     ExtensionPoint = "filter"
	PostFilter ExtensionPoint = "postFilter"
	PreScore   ExtensionPoint = "preScore"
	Score      ExtensionPoint = "score"
	Reserve    ExtensionPoint = "reserve"
	Permit     ExtensionPoint = "permit"
	PreBind    ExtensionPoint = "preBind"
	Bind       ExtensionPoint = "bind"
	PostBind   ExtensionPoint = "postBind"
	MultiPoint ExtensionPoint = "multiPoint"
)

// ExtensionPoints lists every point except MultiPoint, in cycle order.
var ExtensionPoints = []ExtensionPoint{PreEnqueue, QueueSort, PreFilter, Filter, PostFilter, PreScore, Score,
	Reserve, Permit, PreBind, Bind, PostBind}

// PluginRef is one enabled plugin with its score weight (0 = unset).
type PluginRef struct {
	Name   string
	Weight int32
}

// PluginSet is the merged enabled/disabled lists for one extension point.
type PluginSet struct {
	Enabled  []PluginRef
	Disabled []string
}

// Profile is one validated, defaulted scheduling profile.
type Profile struct {
	// SchedulerName selects the pods this profile schedules.
	SchedulerName string
	// PercentageOfNodesToScore overrides the scheduler-wide value; nil
	// means inherit.
	PercentageOfNodesToScore *int32
	// Plugins holds the merged sets by extension point, MultiPoint included.
	// The engine expands MultiPoint against the interfaces each plugin
	// implements.
	Plugins map[ExtensionPoint]PluginSet
	// PluginArgs holds the decoded, defaulted, validated args by plugin name.
	PluginArgs map[string]runtime.Object
}

// Config is berth's effective configuration.
type Config struct {
	// Parallelism bounds the goroutines that filter and score nodes.
	Parallelism int
	// PercentageOfNodesToScore: 0 is adaptive (as kube-scheduler), 100 all.
	PercentageOfNodesToScore int32
	// PodInitialBackoff and PodMaxBackoff bound the exponential backoff.
	PodInitialBackoff time.Duration
	PodMaxBackoff     time.Duration
	// ClientConnection holds the kubeconfig path, QPS and burst.
	ClientConnection ClientConnection
	// LeaderElection holds the lease settings.
	LeaderElection LeaderElection
	// Profiles, at least one, unique scheduler names.
	Profiles []Profile

	// Raw is the defaulted v1 object, for --write-config-to.
	Raw *configv1.KubeSchedulerConfiguration
}

// ClientConnection is the subset of client settings berth honours.
type ClientConnection struct {
	Kubeconfig  string
	QPS         float32
	Burst       int32
	ContentType string
}

// LeaderElection holds the lease settings berth honours.
type LeaderElection struct {
	LeaderElect       bool
	LeaseDuration     time.Duration
	RenewDeadline     time.Duration
	RetryPeriod       time.Duration
	ResourceNamespace string
	ResourceName      string
}
