package gang

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	schedv1beta1 "k8s.io/api/scheduling/v1beta1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	volcanov1beta1 "github.com/berthsched/berth/pkg/apis/volcano/v1beta1"
	xv1alpha1 "github.com/berthsched/berth/pkg/apis/xscheduling/v1alpha1"
)

// API names one of the three APIs a gang can be declared with; it is the
// API group.
type API string

// The APIs berth reads gangs from.
const (
	// Upstream is Kubernetes' own PodGroup (scheduling.k8s.io/v1beta1,
	// feature gate GenericWorkload); pods join with
	// spec.schedulingGroup.podGroupName.
	Upstream API = "scheduling.k8s.io"
	// SchedulerPlugins is the scheduler-plugins coscheduling CRD
	// (scheduling.x-k8s.io/v1alpha1); pods join with the label
	// scheduling.x-k8s.io/pod-group.
	SchedulerPlugins API = xv1alpha1.GroupName
	// Volcano is Volcano's PodGroup (scheduling.volcano.sh/v1beta1); pods
	// join with the annotation scheduling.k8s.io/group-name.
	Volcano API = volcanov1beta1.GroupName
)

// APIs lists every API in the order a pod's references are read: a pod
// that names groups in more than one belongs to the first.
var APIs = []API{Upstream, SchedulerPlugins, Volcano}

// UpstreamPodGroups is the resource of Kubernetes' PodGroup.
var UpstreamPodGroups = schedv1beta1.SchemeGroupVersion.WithResource("podgroups")

// Resource returns the podgroups resource of an API.
func (a API) Resource() schema.GroupVersionResource {
	switch a {
	case SchedulerPlugins:
		return xv1alpha1.PodGroupResource
	case Volcano:
		return volcanov1beta1.PodGroupResource
	}
	return UpstreamPodGroups
}

// TopologyKeyAnnotation on a PodGroup of any API confines the whole group
// to one value of the named node label (a zone, a rack, an NVLink island).
// Kubernetes' PodGroup also has spec.schedulingConstraints.topology, which
// takes precedence.
const TopologyKeyAnnotation = "berth.io/topology-key"

// Ref is the group a pod names.
type Ref struct {
	API  API
	Name string
}

// Key identifies a group across APIs.
func Key(api API, namespace, name string) string {
	return string(api) + "/" + namespace + "/" + name
}

// PodRef returns the group a pod names, if any: in its spec
// (Kubernetes), its labels (scheduler-plugins) or its annotations
// (Volcano), in that order.
func PodRef(pod *v1.Pod) (Ref, bool) {
	if g := pod.Spec.SchedulingGroup; g != nil && g.PodGroupName != nil && *g.PodGroupName != "" {
		return Ref{API: Upstream, Name: *g.PodGroupName}, true
	}
	if n := pod.Labels[xv1alpha1.PodGroupLabel]; n != "" {
		return Ref{API: SchedulerPlugins, Name: n}, true
	}
	if n := pod.Annotations[volcanov1beta1.GroupNameAnnotation]; n != "" {
		return Ref{API: Volcano, Name: n}, true
	}
	return Ref{}, false
}

// PodKey is Key of the pod's group, or "".
func PodKey(pod *v1.Pod) string {
	r, ok := PodRef(pod)
	if !ok {
		return ""
	}
	return Key(r.API, pod.Namespace, r.Name)
}

// Group is what a gang asks for, whichever API declared it.
type Group struct {
	API             API
	Namespace, Name string
	// Gang is false for a group without a gang policy (Kubernetes'
	// Basic policy): its pods are scheduled one by one.
	Gang bool
	// MinMember is how many members must be placed together.
	MinMember int
	// MinResources is what the group needs at least, if it says.
	MinResources v1.ResourceList
	// ScheduleTimeout is how long the group may stay unplaced before its
	// status says so (0: no limit).
	ScheduleTimeout time.Duration
	// TopologyKey confines the group to one value of this node label.
	TopologyKey string
	// Created is the group object's creation time.
	Created time.Time
}

// Key is the group's Key.
func (g *Group) Key() string { return Key(g.API, g.Namespace, g.Name) }

// FromObject reads a group from an object of api, as the dynamic
// informer delivers it (*unstructured.Unstructured) or typed. It rejects
// values the API's own validation would (a negative minimum) with an error
// naming the field, so a bad group gets a clear event instead of a
// silently wrong placement.
func FromObject(api API, obj interface{}) (*Group, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return fromTyped(obj)
	}
	var typed runtime.Object
	switch api {
	case Upstream:
		typed = &schedv1beta1.PodGroup{}
	case SchedulerPlugins:
		typed = &xv1alpha1.PodGroup{}
	case Volcano:
		typed = &volcanov1beta1.PodGroup{}
	default:
		return nil, fmt.Errorf("unknown pod group API %q", api)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed); err != nil {
		return nil, fmt.Errorf("reading %s PodGroup %s/%s: %w", api, u.GetNamespace(), u.GetName(), err)
	}
	return fromTyped(typed)
}

func fromTyped(obj interface{}) (*Group, error) {
	var g *Group
	switch pg := obj.(type) {
	case *schedv1beta1.PodGroup:
		g = &Group{API: Upstream, Namespace: pg.Namespace, Name: pg.Name, Created: pg.CreationTimestamp.Time, MinMember: 1}
		if gp := pg.Spec.SchedulingPolicy.Gang; gp != nil {
			g.Gang, g.MinMember = true, int(gp.MinCount)
			if gp.MinCount < 1 {
				return nil, fmt.Errorf("PodGroup %s/%s: spec.schedulingPolicy.gang.minCount must be at least 1, not %d", pg.Namespace, pg.Name, gp.MinCount)
			}
		}
		if c := pg.Spec.SchedulingConstraints; c != nil && len(c.Topology) > 0 {
			g.TopologyKey = c.Topology[0].Key
		}
		annotationTopology(g, pg.Annotations)
	case *xv1alpha1.PodGroup:
		g = &Group{API: SchedulerPlugins, Namespace: pg.Namespace, Name: pg.Name, Created: pg.CreationTimestamp.Time,
			Gang: true, MinMember: int(pg.Spec.MinMember), MinResources: pg.Spec.MinResources}
		if pg.Spec.MinMember < 0 {
			return nil, fmt.Errorf("PodGroup %s/%s (%s): spec.minMember must not be negative, got %d", pg.Namespace, pg.Name, SchedulerPlugins, pg.Spec.MinMember)
		}
		if t := pg.Spec.ScheduleTimeoutSeconds; t != nil {
			if *t < 0 {
				return nil, fmt.Errorf("PodGroup %s/%s (%s): spec.scheduleTimeoutSeconds must not be negative, got %d", pg.Namespace, pg.Name, SchedulerPlugins, *t)
			}
			g.ScheduleTimeout = time.Duration(*t) * time.Second
		}
		annotationTopology(g, pg.Annotations)
	case *volcanov1beta1.PodGroup:
		g = &Group{API: Volcano, Namespace: pg.Namespace, Name: pg.Name, Created: pg.CreationTimestamp.Time,
			Gang: true, MinMember: int(pg.Spec.MinMember)}
		if pg.Spec.MinMember < 0 {
			return nil, fmt.Errorf("PodGroup %s/%s (%s): spec.minMember must not be negative, got %d", pg.Namespace, pg.Name, Volcano, pg.Spec.MinMember)
		}
		if pg.Spec.MinResources != nil {
			g.MinResources = *pg.Spec.MinResources
		}
		annotationTopology(g, pg.Annotations)
	default:
		return nil, fmt.Errorf("not a PodGroup: %T", obj)
	}
	if g.MinMember < 1 {
		// scheduler-plugins and Volcano treat 0 as "no minimum".
		g.MinMember = 1
	}
	return g, nil
}

func annotationTopology(g *Group, ann map[string]string) {
	if g.TopologyKey == "" {
		g.TopologyKey = strings.TrimSpace(ann[TopologyKeyAnnotation])
	}
}

// Counts are a group's members by state, for its status.
type Counts struct {
	// Members is every non-terminated member; Scheduled those bound or
	// being bound.
	Members, Scheduled, Running, Succeeded, Failed int
}

// CountMembers counts pods by state; assumed reports pods the scheduler
// has placed but not yet seen bound.
func CountMembers(pods []*v1.Pod, assumed func(*v1.Pod) bool) Counts {
	var c Counts
	for _, p := range pods {
		switch p.Status.Phase {
		case v1.PodSucceeded:
			c.Succeeded++
			continue
		case v1.PodFailed:
			c.Failed++
			continue
		case v1.PodRunning:
			c.Running++
		}
		c.Members++
		if p.Spec.NodeName != "" || (assumed != nil && assumed(p)) {
			c.Scheduled++
		}
	}
	return c
}

// SchedulerPluginsPhase is the scheduler-plugins phase the counts give,
// as its own controller derives it from the members: Pending while fewer
// than the minimum exist, Scheduling until the minimum runs, Running,
// Finished once the minimum succeeded, Failed when members failed and the
// rest cannot make up the minimum.
func SchedulerPluginsPhase(minMember int, c Counts) xv1alpha1.PodGroupPhase {
	switch {
	case c.Succeeded >= minMember:
		return xv1alpha1.PodGroupFinished
	case c.Failed > 0 && c.Failed+c.Running+c.Succeeded >= minMember && c.Running+c.Succeeded < minMember:
		return xv1alpha1.PodGroupFailed
	case c.Running+c.Succeeded >= minMember:
		return xv1alpha1.PodGroupRunning
	case c.Members+c.Succeeded >= minMember:
		return xv1alpha1.PodGroupScheduling
	}
	return xv1alpha1.PodGroupPending
}

// VolcanoPhase is Volcano's phase for the counts, as Volcano's own
// scheduler sets it: Running once the minimum is placed (bound or being
// bound), Completed once the minimum succeeded, Inqueue while a placement
// of the minimum is under way (binding), Pending otherwise.
func VolcanoPhase(minMember int, c Counts, binding bool) volcanov1beta1.PodGroupPhase {
	switch {
	case c.Succeeded >= minMember:
		return volcanov1beta1.PodGroupCompleted
	case c.Scheduled+c.Succeeded >= minMember:
		return volcanov1beta1.PodGroupRunning
	case binding:
		return volcanov1beta1.PodGroupInqueue
	}
	return volcanov1beta1.PodGroupPending
}

// Describe is a group's one-line summary for logs and explain.
func (g *Group) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "PodGroup %s/%s (%s): ", g.Namespace, g.Name, g.API)
	if !g.Gang {
		b.WriteString("no gang policy")
	} else {
		b.WriteString("minMember " + strconv.Itoa(g.MinMember))
	}
	if g.TopologyKey != "" {
		b.WriteString(", in one " + g.TopologyKey + " domain")
	}
	if g.ScheduleTimeout > 0 {
		b.WriteString(", timeout " + g.ScheduleTimeout.String())
	}
	return b.String()
}
