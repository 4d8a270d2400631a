package devcluster

import (
	"context"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/kube/provisioner"
)

// provisionerOptions turns the Provisioner* fields into provisioner
// options, with one-line errors naming the flag.
func (o Options) provisionerOptions() (provisioner.Options, error) {
	po := provisioner.Options{Namespace: o.ProvisionerNamespace}
	if s := strings.TrimSpace(o.ProvisionerCapacity); s != "" {
		q, err := resource.ParseQuantity(s)
		if err != nil || q.Sign() < 0 {
			return po, fmt.Errorf("invalid --provisioner-capacity %q: want a non-negative quantity such as 100Gi", o.ProvisionerCapacity)
		}
		po.NodeCapacity = &q
	}
	if ns := o.ProvisionerNamespace; ns != "" {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return po, fmt.Errorf("invalid --provisioner-namespace %q: %s", ns, errs[0])
		}
	}
	return po, nil
}

// startProvisioner runs the local provisioner in this process with the
// admin credentials, logging through klog (the supervisor's output, i.e.
// DIR/devcluster.log) with the "provisioner" logger name. It returns once
// the provisioner's caches are synced; the provisioner stops with ctx.
func startProvisioner(ctx context.Context, o Options, kubeconfig string) (*provisioner.Provisioner, error) {
	po, err := o.provisionerOptions()
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("provisioner: load kubeconfig: %v", err)
	}
	// The same budget as the controller manager; writes are few unless
	// thousands of nodes or volumes change at once.
	cfg.QPS, cfg.Burst = 500, 1000
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.UserAgent = "devcluster-provisioner"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("provisioner: %v", err)
	}
	if po.Namespace != "" && po.Namespace != provisioner.DefaultNamespace {
		if err := ensureNamespace(ctx, client, po.Namespace); err != nil {
			return nil, err
		}
	}
	p, err := provisioner.New(client, po)
	if err != nil {
		return nil, err
	}
	ctx = klog.NewContext(ctx, klog.LoggerWithName(klog.Background(), "provisioner"))
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func ensureNamespace(ctx context.Context, client kubernetes.Interface, name string) error {
	_, err := client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("provisioner: create namespace %s: %v", name, err)
	}
	return nil
}
