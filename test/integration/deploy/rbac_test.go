package deploy

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/cmd/berth/app"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
)

// TestManifestRBAC installs the ServiceAccount and RBAC of deploy/ for
// real, runs berth in-process with the ServiceAccount's token and the
// ConfigMap's configuration (leader election on, Lease in berth-system,
// secure serving on), and proves that the rules are enough (no 403, pods
// bound, the unschedulable one reported) and not more than needed.
func TestManifestRBAC(t *testing.T) {
	ctx := context.Background()
	env := testenv.Current()
	objs := renderKustomize(t)
	ensureBerthNamespace(t)
	a := newApplier(t)
	for _, u := range objs {
		switch u.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			if err := a.apply(ctx, u, false); err != nil {
				t.Fatalf("installing %v", err)
			}
		}
	}
	berthKubeconfig := tokenKubeconfig(t, berthNamespace, "berth")

	// Every 403 that berth's own clients get fails the test; the check
	// runs after berth has stopped (cleanups run last-in first-out).
	forbidden := &forbiddenRecorder{}
	t.Cleanup(func() {
		if reqs := forbidden.list(); len(reqs) > 0 {
			t.Errorf("berth's requests were forbidden with the manifests' RBAC (%d):\n%s", len(reqs), strings.Join(reqs, "\n"))
		}
	})

	if _, err := nodegen.Create(ctx, env.Client, nodegen.Options{Count: 4, Profile: nodegen.ProfileBasic}); err != nil {
		t.Fatalf("creating nodes: %v", err)
	}

	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	data, _, _ := unstructured.NestedString(find(t, objs, "ConfigMap", "berth-config").Object, "data", "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	secure := app.NewSecureServingOptions()
	secure.SecureServing.Listener = ln
	// Fail instead of degrading if the client CA cannot be read.
	secure.Authentication.TolerateInClusterLookupFailure = false
	const identity = "deploy-test"
	startBerth(t, &app.RunOptions{
		Kubeconfig:    berthKubeconfig,
		ConfigFile:    cfgPath,
		HealthAddress: "0",
		Identity:      identity,
		Secure:        secure,
		WrapTransport: forbidden.wrap,
		Ready:         make(chan struct{}),
	})
	secureURL := "https://" + ln.Addr().String()

	t.Run("schedules", func(t *testing.T) {
		ns := env.CreateNamespace(t, "rbac")
		const n = 10
		for i := range n {
			createPod(t, ns, fmt.Sprintf("fits-%d", i), "100m")
		}
		createPod(t, ns, "too-big", "1000")
		err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
			pods, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			bound, reported := 0, false
			for _, p := range pods.Items {
				if p.Spec.NodeName != "" {
					bound++
				}
				if p.Name == "too-big" {
					for _, c := range p.Status.Conditions {
						if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse && c.Reason == v1.PodReasonUnschedulable {
							reported = true
						}
					}
				}
			}
			return bound == n && reported, nil
		})
		if err != nil {
			t.Fatalf("waiting for %d pods bound and too-big reported unschedulable: %v", n, err)
		}
		// The FailedScheduling event (events.k8s.io) for too-big.
		err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			evs, err := env.Client.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			for _, e := range evs.Items {
				if e.Reason == "FailedScheduling" && e.Regarding.Name == "too-big" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Errorf("no FailedScheduling event for too-big: %v", err)
		}
		lease, err := env.Client.CoordinationV1().Leases(berthNamespace).Get(ctx, "berth", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the Lease berth-system/berth: %v", err)
		}
		if h := ptr.Deref(lease.Spec.HolderIdentity, ""); h != identity {
			t.Errorf("Lease holder %q, want %q", h, identity)
		}
	})

	t.Run("preempts", func(t *testing.T) {
		// One 7-core low-priority pod per node, then a 7-core
		// high-priority pod: it only fits by evicting one of them, which
		// takes the preemption rights (delete pods, patch pods/status).
		ns := env.CreateNamespace(t, "rbac-preempt")
		for name, value := range map[string]int32{"rbac-low": 10, "rbac-high": 1000} {
			_, err := env.Client.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{
				ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}, metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
		nodes, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		mk := func(name, class string) *v1.Pod {
			return &v1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: v1.PodSpec{
					SchedulerName: "berth", PriorityClassName: class,
					TerminationGracePeriodSeconds: ptr.To[int64](0), // no kubelet: delete at once
					Containers: []v1.Container{{
						Name: "c", Image: "registry.k8s.io/pause:3.10",
						Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("7")}},
					}},
				},
			}
		}
		for i := range nodes.Items {
			if _, err := env.Client.CoreV1().Pods(ns).Create(ctx, mk(fmt.Sprintf("low-%d", i), "rbac-low"), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		allBound := func(want int) func(context.Context) (bool, error) {
			return func(ctx context.Context) (bool, error) {
				pods, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
				if err != nil {
					return false, err
				}
				n := 0
				for _, p := range pods.Items {
					if p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
						n++
					}
				}
				return n == want, nil
			}
		}
		if err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 60*time.Second, true, allBound(len(nodes.Items))); err != nil {
			t.Fatalf("low-priority pods not bound: %v", err)
		}
		if _, err := env.Client.CoreV1().Pods(ns).Create(ctx, mk("high", "rbac-high"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
			p, err := env.Client.CoreV1().Pods(ns).Get(ctx, "high", metav1.GetOptions{})
			return err == nil && p.Spec.NodeName != "", nil
		})
		if err != nil {
			t.Fatalf("the high-priority pod was not bound by preemption: %v", err)
		}
	})

	t.Run("allocates devices", func(t *testing.T) { testAllocatesDevices(t, "node-00003") })
	t.Run("extended resource backed by DRA", func(t *testing.T) { testExtendedResource(t, "node-00003") })

	t.Run("least privilege", func(t *testing.T) {
		sa := clientFor(t, berthKubeconfig)
		denied := []authorizationv1.ResourceAttributes{
			{Verb: "get", Resource: "secrets", Namespace: berthNamespace},
			{Verb: "list", Resource: "secrets"},
			{Verb: "watch", Resource: "secrets", Namespace: "kube-system"},
			{Verb: "get", Resource: "pods", Namespace: "default"},
			{Verb: "create", Resource: "pods", Namespace: "default"},
			{Verb: "update", Resource: "pods", Namespace: "default"},
			{Verb: "update", Resource: "pods", Subresource: "status", Namespace: "default"},
			{Verb: "update", Resource: "nodes"},
			{Verb: "patch", Resource: "nodes"},
			{Verb: "delete", Resource: "nodes"},
			{Verb: "create", Resource: "namespaces"},
			{Verb: "delete", Resource: "namespaces"},
			{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: "kube-system"},
			{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: "default"},
			{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: "kube-system", Name: "berth"},
			{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: berthNamespace, Name: "someone-else"},
			{Verb: "delete", Group: "coordination.k8s.io", Resource: "leases", Namespace: berthNamespace, Name: "berth"},
			{Verb: "list", Resource: "configmaps", Namespace: "kube-system"},
			{Verb: "get", Resource: "configmaps", Namespace: "kube-system", Name: "kube-root-ca.crt"},
			{Verb: "create", Resource: "configmaps", Namespace: berthNamespace},
			{Verb: "create", Resource: "events", Namespace: "default"},
			{Verb: "delete", Group: "events.k8s.io", Resource: "events", Namespace: "default"},
			{Verb: "create", Resource: "serviceaccounts", Subresource: "token", Namespace: berthNamespace, Name: "berth"},
			{Verb: "create", Resource: "persistentvolumes"},
			{Verb: "delete", Resource: "persistentvolumes"},
			{Verb: "patch", Resource: "persistentvolumes"},
			{Verb: "create", Resource: "persistentvolumeclaims", Namespace: "default"},
			{Verb: "delete", Resource: "persistentvolumeclaims", Namespace: "default"},
			{Verb: "update", Group: "storage.k8s.io", Resource: "storageclasses"},
			{Verb: "patch", Group: "resource.k8s.io", Resource: "resourceclaims", Namespace: "default"},
			{Verb: "list", Group: "resource.k8s.io", Resource: "resourceclaimtemplates"},
			{Verb: "create", Group: "resource.k8s.io", Resource: "resourceslices"},
			{Verb: "update", Group: "resource.k8s.io", Resource: "resourceslices"},
			{Verb: "delete", Group: "resource.k8s.io", Resource: "resourceslices"},
			{Verb: "update", Group: "resource.k8s.io", Resource: "deviceclasses"},
			{Verb: "create", Group: "resource.k8s.io", Resource: "devicetaintrules"},
			{Verb: "update", Resource: "pods", Subresource: "finalizers", Namespace: "default"},
			{Verb: "escalate", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"},
			{Verb: "impersonate", Resource: "users"},
		}
		allowed := []authorizationv1.ResourceAttributes{
			{Verb: "list", Resource: "pods"},
			{Verb: "watch", Resource: "nodes"},
			{Verb: "create", Resource: "pods", Subresource: "binding", Namespace: "default"},
			{Verb: "patch", Resource: "pods", Subresource: "status", Namespace: "default"},
			{Verb: "delete", Resource: "pods", Namespace: "default"},
			// GPUShare's PreBind writes the berth.io/gpu-assignment annotation.
			{Verb: "patch", Resource: "pods", Namespace: "default"},
			{Verb: "update", Resource: "persistentvolumes"},
			{Verb: "update", Resource: "persistentvolumeclaims", Namespace: "default"},
			{Verb: "patch", Resource: "persistentvolumeclaims", Namespace: "default"},
			{Verb: "list", Group: "storage.k8s.io", Resource: "csistoragecapacities"},
			{Verb: "create", Group: "events.k8s.io", Resource: "events", Namespace: "default"},
			{Verb: "patch", Group: "events.k8s.io", Resource: "events", Namespace: "default"},
			{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: berthNamespace},
			{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: berthNamespace, Name: "berth"},
			{Verb: "get", Resource: "configmaps", Namespace: "kube-system", Name: "extension-apiserver-authentication"},
			{Verb: "watch", Group: "resource.k8s.io", Resource: "resourceclaims"},
			{Verb: "list", Group: "resource.k8s.io", Resource: "resourceslices"},
			{Verb: "list", Group: "resource.k8s.io", Resource: "deviceclasses"},
			{Verb: "watch", Group: "resource.k8s.io", Resource: "devicetaintrules"},
			{Verb: "get", Group: "resource.k8s.io", Resource: "resourceclaims", Namespace: "default"},
			{Verb: "update", Group: "resource.k8s.io", Resource: "resourceclaims", Namespace: "default"},
			// The extended-resource claims of DRA-backed extended resources.
			{Verb: "create", Group: "resource.k8s.io", Resource: "resourceclaims", Namespace: "default"},
			{Verb: "delete", Group: "resource.k8s.io", Resource: "resourceclaims", Namespace: "default"},
			{Verb: "update", Group: "resource.k8s.io", Resource: "resourceclaims", Subresource: "status", Namespace: "default"},
			{Verb: "patch", Group: "resource.k8s.io", Resource: "resourceclaims", Subresource: "status", Namespace: "default"},
			{Verb: "update", Group: "resource.k8s.io", Resource: "resourceclaims", Subresource: "binding"},
			{Verb: "patch", Group: "resource.k8s.io", Resource: "resourceclaims", Subresource: "binding"},
			{Verb: "create", Group: "authentication.k8s.io", Resource: "tokenreviews"},
			{Verb: "create", Group: "authorization.k8s.io", Resource: "subjectaccessreviews"},
		}
		for _, attrs := range denied {
			if ok := canI(t, sa, attrs); ok {
				t.Errorf("berth may %s — more than it needs", fmtAttrs(attrs))
			}
		}
		for _, attrs := range allowed {
			if ok := canI(t, sa, attrs); !ok {
				t.Errorf("berth may not %s — it needs to", fmtAttrs(attrs))
			}
		}

		// And the real requests are refused.
		if _, err := sa.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("listing secrets: %v, want Forbidden", err)
		}
		node, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil || len(node.Items) == 0 {
			t.Fatalf("listing nodes as admin: %v", err)
		}
		nd := node.Items[0].DeepCopy()
		nd.Labels["berth-test"] = "x"
		if _, err := sa.CoreV1().Nodes().Update(ctx, nd, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("updating a node: %v, want Forbidden", err)
		}
		if err := sa.CoreV1().Namespaces().Delete(ctx, berthNamespace, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); !apierrors.IsForbidden(err) {
			t.Errorf("deleting a namespace: %v, want Forbidden", err)
		}
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "berth"}}
		if _, err := sa.CoordinationV1().Leases("kube-system").Create(ctx, lease, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("creating a Lease in kube-system: %v, want Forbidden", err)
		}
	})

	t.Run("secure metrics", func(t *testing.T) {
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			// The certificate is self-signed, generated in memory.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // test
		}}
		get := func(path, token string) (int, string) {
			req, _ := http.NewRequest(http.MethodGet, secureURL+path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		for _, p := range []string{"/healthz", "/livez", "/readyz"} {
			if code, body := get(p, ""); code != http.StatusOK {
				t.Errorf("anonymous GET %s = %d %s, want 200 (always allowed)", p, code, body)
			}
		}
		if code, _ := get("/metrics", ""); code != http.StatusUnauthorized && code != http.StatusForbidden {
			t.Errorf("anonymous GET /metrics = %d, want 401 or 403", code)
		}
		if code, _ := get("/metrics", "not-a-token"); code != http.StatusUnauthorized {
			t.Errorf("GET /metrics with a bad token = %d, want 401", code)
		}
		ns := env.CreateNamespace(t, "scraper")
		for _, name := range []string{"scraper", "nobody"} {
			if _, err := env.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if code, _ := get("/metrics", token(t, ns, "nobody")); code != http.StatusForbidden {
			t.Errorf("GET /metrics as a ServiceAccount without the metrics-reader role = %d, want 403", code)
		}
		crb := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "berth-test-scraper-" + ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "berth:metrics-reader"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "scraper", Namespace: ns}},
		}
		if _, err := env.Client.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = env.Client.RbacV1().ClusterRoleBindings().Delete(context.Background(), crb.Name, metav1.DeleteOptions{})
		})
		tok := token(t, ns, "scraper")
		var code int
		var body string
		err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			code, body = get("/metrics", tok)
			return code == http.StatusOK, nil
		})
		if err != nil {
			t.Fatalf("GET /metrics as berth:metrics-reader = %d %.300s, want 200", code, body)
		}
		for _, want := range []string{"berth_schedule_attempts_total", "berth_leader_is_leader 1"} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
		// pprof is off: authorized for /metrics only, the scraper may not
		// even learn that.
		if code, _ := get("/debug/pprof/", tok); code != http.StatusForbidden {
			t.Errorf("GET /debug/pprof/ as metrics reader = %d, want 403", code)
		}
	})
}

// startBerth runs berth in-process until the test ends.
func startBerth(t *testing.T, o *app.RunOptions) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, o, io.Discard) }()
	select {
	case <-o.Ready:
	case err := <-done:
		cancel()
		t.Fatalf("berth exited before becoming ready: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("berth did not become ready within 60s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("berth returned an error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("berth did not stop within 30s")
		}
	})
}

func createPod(t *testing.T, ns, name, cpu string) {
	t.Helper()
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PodSpec{
			SchedulerName: "berth",
			Containers: []v1.Container{{
				Name: "c", Image: "registry.k8s.io/pause:3.10",
				Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}},
			}},
		},
	}
	if _, err := testenv.Current().Client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// token returns a one-hour token of the ServiceAccount (TokenRequest API).
func token(t testing.TB, ns, sa string) string {
	t.Helper()
	tr, err := testenv.Current().Client.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, sa, err)
	}
	return tr.Status.Token
}

// tokenKubeconfig writes a kubeconfig that authenticates as the
// ServiceAccount with a bearer token (no client certificate).
func tokenKubeconfig(t testing.TB, ns, sa string) string {
	t.Helper()
	admin := testenv.Current().Config
	ca := admin.TLSClientConfig.CAData
	if len(ca) == 0 && admin.TLSClientConfig.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(admin.TLSClientConfig.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: admin.Host, CertificateAuthorityData: ca}
	kc.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: token(t, ns, sa)}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: sa}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), sa+".kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func clientFor(t testing.TB, kubeconfig string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// canI asks the API server whether the client's user may do attrs.
func canI(t *testing.T, c kubernetes.Interface, attrs authorizationv1.ResourceAttributes) bool {
	t.Helper()
	r, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(context.Background(), &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectAccessReview %s: %v", fmtAttrs(attrs), err)
	}
	return r.Status.Allowed
}

func fmtAttrs(a authorizationv1.ResourceAttributes) string {
	res := a.Resource
	if a.Group != "" {
		res += "." + a.Group
	}
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	where := "cluster-wide"
	if a.Namespace != "" {
		where = "in " + a.Namespace
	}
	if a.Name != "" {
		res += " " + a.Name
	}
	return fmt.Sprintf("%s %s %s", a.Verb, res, where)
}

// forbiddenRecorder records the requests answered 403 by authorization.
// A 403 from namespace lifecycle admission (an event written while a test
// namespace is being deleted) is not an RBAC problem and is left out.
type forbiddenRecorder struct {
	mu   sync.Mutex
	reqs []string
}

func (f *forbiddenRecorder) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(r)
		if err == nil && resp.StatusCode == http.StatusForbidden {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(body))
			if bytes.Contains(body, []byte("because it is being terminated")) {
				return resp, err
			}
			f.mu.Lock()
			f.reqs = append(f.reqs, r.Method+" "+r.URL.String())
			f.mu.Unlock()
		}
		return resp, err
	})
}

func (f *forbiddenRecorder) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.reqs...)
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
