package whatif

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"
)

// APIVersion and Kind identify a saved snapshot file, so a file of
// another kind is refused with a clear error instead of simulating an
// empty cluster.
const (
	APIVersion   = "snapshot.berth.io/v1alpha1"
	SnapshotKind = "ClusterSnapshot"
)

// Resources are what a snapshot holds: everything berth's plugins read
// through informers (nodes, pods, volumes, storage and CSI objects, DRA
// objects, disruption budgets, namespaces for affinity namespace
// selectors, services and replication controllers for default spreading,
// priority classes for the pods' priorities) and the custom resources of
// the gang and network-aware plugins. A resource the server does not
// serve is left out and recorded as such.
var Resources = []schema.GroupVersionResource{
	{Version: "v1", Resource: "nodes"},
	{Version: "v1", Resource: "pods"},
	{Version: "v1", Resource: "namespaces"},
	{Version: "v1", Resource: "persistentvolumes"},
	{Version: "v1", Resource: "persistentvolumeclaims"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "replicationcontrollers"},
	{Group: "storage.k8s.io", Version: "v1", Resource: "storageclasses"},
	{Group: "storage.k8s.io", Version: "v1", Resource: "csinodes"},
	{Group: "storage.k8s.io", Version: "v1", Resource: "csidrivers"},
	{Group: "storage.k8s.io", Version: "v1", Resource: "csistoragecapacities"},
	{Group: "storage.k8s.io", Version: "v1", Resource: "volumeattachments"},
	{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"},
	{Group: "scheduling.k8s.io", Version: "v1", Resource: "priorityclasses"},
	{Group: "resource.k8s.io", Version: "v1", Resource: "deviceclasses"},
	{Group: "resource.k8s.io", Version: "v1", Resource: "resourceslices"},
	{Group: "resource.k8s.io", Version: "v1", Resource: "resourceclaims"},
	{Group: "scheduling.k8s.io", Version: "v1beta1", Resource: "podgroups"},
	{Group: "scheduling.x-k8s.io", Version: "v1alpha1", Resource: "podgroups"},
	{Group: "scheduling.volcano.sh", Version: "v1beta1", Resource: "podgroups"},
	{Group: "appgroup.diktyo.x-k8s.io", Version: "v1alpha1", Resource: "appgroups"},
	{Group: "networktopology.diktyo.x-k8s.io", Version: "v1alpha1", Resource: "networktopologies"},
}

// Snapshot is a cluster's scheduling state at one moment, as `berth
// snapshot save` writes it: the objects of Resources and, optionally,
// the scheduler configuration in force, so that a what-if runs on the
// same state and profiles anywhere, with no cluster.
type Snapshot struct {
	metav1.TypeMeta `json:",inline"`
	// TakenAt is when the objects were listed.
	TakenAt metav1.Time `json:"takenAt"`
	// Server is the API server's address and ServerVersion its version.
	Server        string `json:"server,omitempty"`
	ServerVersion string `json:"serverVersion,omitempty"`
	// SchedulerConfig is berth's KubeSchedulerConfiguration (YAML), or
	// empty for the defaults.
	SchedulerConfig string `json:"schedulerConfig,omitempty"`
	// Served lists the resources the server served ("group/version/
	// resource"), so a loaded snapshot tells plugins which APIs exist.
	Served []string `json:"served"`
	// Objects are the listed objects, managedFields removed.
	Objects []unstructured.Unstructured `json:"objects"`
}

// SaveOptions say where Save reads from.
type SaveOptions struct {
	Dynamic   dynamic.Interface
	Discovery discovery.DiscoveryInterface
	// Server is recorded in the snapshot.
	Server string
	// SchedulerConfig is recorded as is (YAML), after the caller checked
	// it loads.
	SchedulerConfig string
	// Progress, if set, is told after each resource is listed.
	Progress func(gvr schema.GroupVersionResource, count int)
}

// Save lists every served resource of Resources. It reads only.
func Save(ctx context.Context, o SaveOptions) (*Snapshot, error) {
	s := &Snapshot{
		TypeMeta:        metav1.TypeMeta{APIVersion: APIVersion, Kind: SnapshotKind},
		TakenAt:         metav1.NewTime(time.Now().UTC().Truncate(time.Second)),
		Server:          o.Server,
		SchedulerConfig: o.SchedulerConfig,
		Served:          []string{},
		Objects:         []unstructured.Unstructured{},
	}
	if v, err := o.Discovery.ServerVersion(); err == nil {
		s.ServerVersion = v.GitVersion
	}
	served := map[string]map[string]bool{}
	for _, gvr := range Resources {
		gv := gvr.GroupVersion().String()
		names, ok := served[gv]
		if !ok {
			names = map[string]bool{}
			list, err := o.Discovery.ServerResourcesForGroupVersion(gv)
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return nil, fmt.Errorf("asking the API server whether it serves %s: %w", gv, err)
			default:
				for _, r := range list.APIResources {
					names[r.Name] = true
				}
			}
			served[gv] = names
		}
		if !names[gvr.Resource] {
			klog.FromContext(ctx).V(2).Info("Resource not served; left out of the snapshot", "resource", gvr.String())
			continue
		}
		list, err := o.Dynamic.Resource(gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", resourceString(gvr), err)
		}
		s.Served = append(s.Served, resourceString(gvr))
		for i := range list.Items {
			obj := list.Items[i]
			obj.SetManagedFields(nil)
			if obj.GetAPIVersion() == "" {
				obj.SetAPIVersion(gv)
			}
			if obj.GetKind() == "" {
				obj.SetKind(strings.TrimSuffix(list.GetKind(), "List"))
			}
			s.Objects = append(s.Objects, obj)
		}
		if o.Progress != nil {
			o.Progress(gvr, len(list.Items))
		}
	}
	return s, nil
}

// resourceString is "resource.group/version" ("pods/v1" for the core
// group), the form Served keeps.
func resourceString(gvr schema.GroupVersionResource) string {
	if gvr.Group == "" {
		return gvr.Resource + "/" + gvr.Version
	}
	return gvr.Resource + "." + gvr.Group + "/" + gvr.Version
}

// parseResource undoes resourceString.
func parseResource(s string) (schema.GroupVersionResource, error) {
	rg, version, ok := strings.Cut(s, "/")
	if !ok || version == "" || rg == "" {
		return schema.GroupVersionResource{}, fmt.Errorf("served resource %q: want resource.group/version", s)
	}
	resource, group, _ := strings.Cut(rg, ".")
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}, nil
}

// Write encodes s as YAML, or as JSON when asJSON.
func (s *Snapshot) Write(w io.Writer, asJSON bool) error {
	var (
		b   []byte
		err error
	)
	if asJSON {
		b, err = json.MarshalIndent(s, "", "  ")
		b = append(b, '\n')
	} else {
		b, err = yaml.Marshal(s)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Counts returns how many objects of each kind the snapshot holds, for
// progress and summaries.
func (s *Snapshot) Counts() map[string]int {
	out := map[string]int{}
	for i := range s.Objects {
		out[s.Objects[i].GetKind()]++
	}
	return out
}

// CountsString renders Counts as "12 Node, 48 Pod, …", kinds sorted.
func (s *Snapshot) CountsString() string {
	c := s.Counts()
	kinds := make([]string, 0, len(c))
	for k := range c {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s", c[k], k)
	}
	return strings.Join(parts, ", ")
}

// ReadFile reads a snapshot written by Write (YAML or JSON).
func ReadFile(path string) (*Snapshot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", path, err)
	}
	return s, nil
}

// Decode parses a snapshot, refusing other kinds, unknown fields and
// objects without a kind or name.
func Decode(b []byte) (*Snapshot, error) {
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, err
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(j, &tm); err != nil {
		return nil, err
	}
	if tm.APIVersion != APIVersion || tm.Kind != SnapshotKind {
		return nil, fmt.Errorf("apiVersion/kind: want %s %s (written by berth snapshot save), got %q %q", APIVersion, SnapshotKind, tm.APIVersion, tm.Kind)
	}
	var s Snapshot
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, err
	}
	for i := range s.Objects {
		o := &s.Objects[i]
		if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
			return nil, fmt.Errorf("objects[%d]: apiVersion, kind and metadata.name are required", i)
		}
	}
	for _, r := range s.Served {
		if _, err := parseResource(r); err != nil {
			return nil, err
		}
	}
	return &s, nil
}
