package nodedeclaredfeatures

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/version"
	ndf "k8s.io/component-helpers/nodedeclaredfeatures"
	"k8s.io/component-helpers/nodedeclaredfeatures/features/restartallcontainers"
	"k8s.io/component-helpers/nodedeclaredfeatures/features/usernamespaceshostnetwork"
	"k8s.io/component-helpers/nodedeclaredfeatures/features/volumebindmountoptions"
	"k8s.io/component-helpers/nodedeclaredfeatures/types"
	"k8s.io/klog/v2/ktesting"
	configv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

// The library's names for the features a pod spec can need.
const (
	restartAll = restartallcontainers.RestartAllContainersOnContainerExits
	hostNetUNS = usernamespaceshostnetwork.UserNamespacesHostNetworkSupport
	bindOpts   = volumebindmountoptions.VolumeBindMountOptionsFeatureName
)

// Pod shapes the library infers a requirement from.
func plainPod() *v1.Pod { return st.MakePod().Name("p").Obj() }

func restartAllPod() *v1.Pod {
	p := plainPod()
	p.Spec.Containers[0].RestartPolicy = ptr.To(v1.ContainerRestartPolicyNever)
	p.Spec.Containers[0].RestartPolicyRules = []v1.ContainerRestartRule{{
		Action:    v1.ContainerRestartRuleActionRestartAllContainers,
		ExitCodes: &v1.ContainerRestartRuleOnExitCodes{Operator: v1.ContainerRestartRuleOnExitCodesOpIn, Values: []int32{42}},
	}}
	return p
}

func restartOnePod() *v1.Pod {
	p := restartAllPod()
	p.Spec.Containers[0].RestartPolicyRules[0].Action = v1.ContainerRestartRuleActionRestart
	return p
}

func hostNetworkUserNSPod() *v1.Pod {
	p := plainPod()
	p.Spec.HostNetwork = true
	p.Spec.HostUsers = ptr.To(false)
	return p
}

func bindOptionsInitPod() *v1.Pod {
	p := plainPod()
	p.Spec.InitContainers = []v1.Container{{Name: "init", Image: "pause",
		VolumeMounts: []v1.VolumeMount{{Name: "v", MountPath: "/v", BindMountOptions: []string{"ro"}}}}}
	return p
}

func node(features ...string) *framework.NodeInfo {
	n := st.MakeNode().Name("n").Obj()
	n.Status.DeclaredFeatures = features
	ni := framework.NewNodeInfo()
	ni.SetNode(n)
	return ni
}

func newDefault(t *testing.T) *NodeDeclaredFeatures {
	t.Helper()
	pl, err := New(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pl.(*NodeDeclaredFeatures)
}

func TestPreFilter(t *testing.T) {
	tests := []struct {
		name     string
		pod      *v1.Pod
		want     *framework.Status
		required []string
	}{
		{name: "no feature needed", pod: plainPod(), want: framework.NewStatus(framework.Skip)},
		{name: "restart rule restarting one container", pod: restartOnePod(), want: framework.NewStatus(framework.Skip)},
		{name: "host network alone", pod: func() *v1.Pod { p := plainPod(); p.Spec.HostNetwork = true; return p }(),
			want: framework.NewStatus(framework.Skip)},
		{name: "restart rule restarting all containers", pod: restartAllPod(), required: []string{restartAll}},
		{name: "host network in a user namespace", pod: hostNetworkUserNSPod(), required: []string{hostNetUNS}},
		{name: "bind mount options in an init container", pod: bindOptionsInitPod(), required: []string{bindOpts}},
		{name: "two features", pod: func() *v1.Pod {
			p := restartAllPod()
			p.Spec.HostNetwork, p.Spec.HostUsers = true, ptr.To(false)
			return p
		}(), required: []string{restartAll, hostNetUNS}},
	}
	pl := newDefault(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := framework.NewCycleState()
			res, got := pl.PreFilter(context.Background(), state, tt.pod, nil)
			if res != nil {
				t.Errorf("PreFilter result = %v, want nil", res)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PreFilter status (-want +got):\n%s", diff)
			}
			s, err := framework.ReadState[*preFilterState](state, preFilterStateKey)
			if tt.required == nil {
				if err == nil {
					t.Errorf("Skip wrote a state: %v", s.required)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got2, err := pl.features.Unmap(s.required)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(slices.Sorted(slices.Values(tt.required)), got2); diff != "" {
				t.Errorf("required features (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFilter(t *testing.T) {
	reject := framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnsatisfiedRequirements)
	twoFeatures := func() *v1.Pod {
		p := restartAllPod()
		p.Spec.HostNetwork, p.Spec.HostUsers = true, ptr.To(false)
		return p
	}
	tests := []struct {
		name string
		pod  *v1.Pod
		node *framework.NodeInfo
		want *framework.Status
	}{
		{name: "node declares the feature", pod: restartAllPod(), node: node(restartAll)},
		{name: "node declares more", pod: restartAllPod(), node: node(restartAll, hostNetUNS, bindOpts)},
		{name: "node declares nothing", pod: restartAllPod(), node: node(), want: reject},
		{name: "node declares another feature", pod: restartAllPod(), node: node(bindOpts), want: reject},
		{name: "node declares one of two", pod: twoFeatures(), node: node(restartAll), want: reject},
		{name: "node declares both", pod: twoFeatures(), node: node(restartAll, hostNetUNS)},
		{name: "unknown names are ignored", pod: restartAllPod(), node: node("AFutureFeature", restartAll, "ZFutureFeature")},
		{name: "only unknown names", pod: restartAllPod(), node: node("AFutureFeature", "Vendor/thing"), want: reject},
		{name: "node object gone", pod: restartAllPod(), node: framework.NewNodeInfo(), want: reject},
	}
	pl := newDefault(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := framework.NewCycleState()
			if _, st := pl.PreFilter(context.Background(), state, tt.pod, nil); !st.IsSuccess() {
				t.Fatalf("PreFilter: %v", st)
			}
			got := pl.Filter(context.Background(), state, tt.pod, tt.node)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Filter status (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFilterWithoutPreFilter: as in kube-scheduler, Filter cannot work
// without PreFilter's state and says so instead of letting the pod pass.
func TestFilterWithoutPreFilter(t *testing.T) {
	got := newDefault(t).Filter(context.Background(), framework.NewCycleState(), restartAllPod(), node())
	if got.Code() != framework.Error || !strings.Contains(got.Message(), string(preFilterStateKey)) {
		t.Errorf("Filter without PreFilter = %v, want an Error naming the state key", got)
	}
}

// fakeFeature is a feature every pod needs, up to an optional MaxVersion.
type fakeFeature struct {
	name string
	max  *version.Version
}

func (f fakeFeature) Name() string                           { return f.name }
func (fakeFeature) Discover(*types.NodeConfiguration) bool   { return true }
func (fakeFeature) Requirements() *types.FeatureRequirements { return &types.FeatureRequirements{} }
func (fakeFeature) InferForScheduling(*types.PodInfo) bool   { return true }
func (fakeFeature) InferForUpdate(_, _ *types.PodInfo) bool  { return false }
func (f fakeFeature) MaxVersion() *version.Version           { return f.max }

// TestTargetVersion: a feature whose MaxVersion the target version is past
// is no longer required, the same comparison kube-scheduler makes with its
// own version.
func TestTargetVersion(t *testing.T) {
	registry := []ndf.Feature{
		fakeFeature{name: "Old", max: version.MustParseSemantic("1.36.0")},
		fakeFeature{name: "Patch", max: version.MustParseSemantic("1.37.1")},
		fakeFeature{name: "Current", max: version.MustParseSemantic("1.37.2")},
		fakeFeature{name: "Open"},
	}
	tests := []struct {
		target string
		want   string
	}{
		{target: "1.36.0", want: "Current,Old,Open,Patch"},
		{target: "1.37.0", want: "Current,Open,Patch"},
		{target: targetVersionString, want: "Current,Open"},
		{target: "1.38.0", want: "Open"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			pl := newPlugin(ndf.New(registry), version.MustParseSemantic(tt.target))
			if got := pl.SignatureFragment(plainPod()); got != tt.want {
				t.Errorf("required = %q, want %q", got, tt.want)
			}
		})
	}
	// A nil target is a programming error the library reports.
	pl := newPlugin(ndf.New(registry), nil)
	if _, st := pl.PreFilter(context.Background(), framework.NewCycleState(), plainPod(), nil); st.Code() != framework.Error {
		t.Errorf("PreFilter with no target version = %v, want Error", st)
	}
}

// TestTargetVersionMatchesLibrary keeps targetVersionString in step with
// the component-helpers release go.mod requires (v0.X.Y ships with
// Kubernetes v1.X.Y). Test binaries carry no dependency versions in their
// build info, so it reads the module's go.mod.
func TestTargetVersionMatchesLibrary(t *testing.T) {
	gomod, err := os.ReadFile(filepath.Join("..", "..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*k8s\.io/component-helpers (v\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod does not require k8s.io/component-helpers")
	}
	v, err := version.ParseSemantic(string(m[1]))
	if err != nil {
		t.Fatalf("component-helpers version %q: %v", m[1], err)
	}
	want := version.MajorMinor(1, v.Minor()).WithPatch(v.Patch())
	if !targetVersion.EqualTo(want) {
		t.Errorf("targetVersionString = %s, but component-helpers %s is Kubernetes %s's", targetVersionString, m[1], want)
	}
}

func TestSignatureFragment(t *testing.T) {
	pl := newDefault(t)
	if got := pl.SignatureFragment(plainPod()); got != "" {
		t.Errorf("plain pod fragment = %q, want empty", got)
	}
	// Restarting one container needs no feature: the same fragment as a
	// plain pod, so such pods stay equivalent.
	if got := pl.SignatureFragment(restartOnePod()); got != "" {
		t.Errorf("restart-one pod fragment = %q, want empty", got)
	}
	a, b := pl.SignatureFragment(restartAllPod()), pl.SignatureFragment(hostNetworkUserNSPod())
	if a != restartAll || b != hostNetUNS {
		t.Errorf("fragments = %q, %q; want %q, %q", a, b, restartAll, hostNetUNS)
	}
}

func TestQueueingHint(t *testing.T) {
	pod := restartAllPod()
	withFeatures := func(fs ...string) *v1.Node {
		n := st.MakeNode().Name("n").Obj()
		n.Status.DeclaredFeatures = fs
		return n
	}
	tests := []struct {
		name     string
		old, new interface{}
		want     framework.QueueingHint
		wantErr  bool
	}{
		{name: "node added", new: withFeatures(restartAll), want: framework.Queue},
		{name: "node added without features", new: withFeatures(), want: framework.Queue},
		{name: "features added", old: withFeatures(), new: withFeatures(restartAll), want: framework.Queue},
		{name: "features removed", old: withFeatures(restartAll), new: withFeatures(), want: framework.Queue},
		{name: "features unchanged", old: withFeatures(restartAll), new: withFeatures(restartAll), want: framework.QueueSkip},
		{name: "no features either side", old: withFeatures(), new: withFeatures(), want: framework.QueueSkip},
		{name: "not a node", old: withFeatures(), new: pod, want: framework.Queue, wantErr: true},
	}
	events, err := newDefault(t).EventsToRegister(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantEvent := framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeDeclaredFeature}
	if len(events) != 1 || events[0].Event != wantEvent {
		t.Fatalf("events = %+v, want only %+v", events, wantEvent)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, _ := ktesting.NewTestContext(t)
			got, err := events[0].QueueingHintFn(logger, pod, tt.old, tt.new)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("hint = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewRejectsArgs(t *testing.T) {
	if _, err := New(context.Background(), &configv1.NodeAffinityArgs{}, nil); err == nil {
		t.Fatal("New(wrong args) returned no error")
	}
}
