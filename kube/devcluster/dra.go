package devcluster

import (
	"context"
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/kube/dradriver"
)

// startDRADriver runs the fake DRA driver in this process with the admin
// credentials, logging through klog with the "dradriver" logger name. It
// returns once the DeviceClass exists and the node cache is synced; the
// driver stops with ctx.
func startDRADriver(ctx context.Context, kubeconfig string) (*dradriver.Driver, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("dradriver: load kubeconfig: %v", err)
	}
	// One create per GPU node when a fleet is added at once; the
	// controller manager's budget keeps that to well under a second for
	// hundreds of nodes.
	cfg.QPS, cfg.Burst = 500, 1000
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.UserAgent = "devcluster-dradriver"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dradriver: %v", err)
	}
	d := dradriver.New(client, dradriver.Options{})
	ctx = klog.NewContext(ctx, klog.LoggerWithName(klog.Background(), "dradriver"))
	if err := d.Start(ctx); err != nil {
		return nil, err
	}
	return d, nil
}
