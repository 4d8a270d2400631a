// Package devcluster owns the local development control plane: an embedded
// etcd, a kube-apiserver and (optionally) a kube-controller-manager run as
// supervised child processes, with freshly generated certificates and an
// admin kubeconfig.
//
// It lives in the kube module because it embeds etcd and drives the stock
// Kubernetes binaries built from k8s.io/kubernetes, which the main module
// must not depend on. The devcluster command is a thin CLI over this
// package; the main module's internal/testenv starts "devcluster serve" as
// a child process instead of importing it.
//
// A data directory (DIR) holds everything belonging to one instance:
//
//	DIR/devcluster.lock   flock held by the supervisor while it runs
//	DIR/devcluster.pid    supervisor pid
//	DIR/state.json        ports and pids (see State)
//	DIR/kubeconfig        admin kubeconfig, written once the cluster is ready
//	DIR/devcluster.log    supervisor, etcd and component logs ("up" only)
//	DIR/etcd, DIR/pki     etcd data and generated certificates
//
// Several instances can run side by side if they use different
// directories and ports.
//
// Choices made for a development cluster without kubelets:
//
//   - The ServiceAccount admission plugin stays enabled, as in production:
//     pods need their namespace's "default" ServiceAccount, which the
//     controller manager's serviceaccount controller creates (testenv's
//     CreateNamespace waits for it, or creates it when running without the
//     controller manager).
//   - TaintNodesByCondition admission stays enabled too, so new nodes get
//     the not-ready taint; the node generator removes it.
//   - kube-controller-manager runs every default controller except those
//     that assume kubelets or a cloud (see ControllerManagerControllers),
//     under one client-certificate identity in system:masters.
//   - etcd runs in the supervisor process with fsync disabled: data is
//     disposable and fsync dominates write latency for bulk creation.
//   - Priority and fairness is off and the in-flight limits are raised, so
//     benchmarks measure the scheduler rather than API throttling.
//   - SIGUSR1 (RestartAPIServerSignal) and SIGUSR2 (RestartEtcdSignal)
//     make a running supervisor restart the API server or etcd in place,
//     for fault-injection tests of clients (test/chaos).
//   - Components are children with Pdeathsig=SIGKILL: killing the
//     supervisor (even with SIGKILL) takes them down with it.
//   - With Options.Provisioner (--provisioner), the dynamic volume
//     provisioner of package provisioner runs as goroutines of the
//     supervisor with the admin credentials, logging to the supervisor's
//     output; it starts before the kubeconfig is written and stops first.
//   - With Options.DRA (--dra), the fake DRA driver of package dradriver
//     runs the same way: ResourceSlices for nodes labelled
//     gpu.devcluster.berth.io/count and the DeviceClass
//     gpu.devcluster.berth.io. resource.k8s.io/v1 is served by default
//     (DynamicResourceAllocation is GA), and "*" in
//     ControllerManagerControllers includes the resourceclaim controller
//     that creates claims from pods' ResourceClaimTemplates.
package devcluster
