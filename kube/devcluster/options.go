package devcluster

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/berthsched/berth/kube/provisioner"
)

// Names of files inside the data directory.
const (
	LockFile       = "devcluster.lock"
	PIDFile        = "devcluster.pid"
	StateFile      = "state.json"
	KubeconfigFile = "kubeconfig"
	LogFile        = "devcluster.log"
	keepDataMarker = ".keep-data"
)

// Binary names expected in Options.BinDir.
const (
	APIServerBinary         = "kube-apiserver"
	ControllerManagerBinary = "kube-controller-manager"
)

// Options configures one devcluster instance.
type Options struct {
	// Dir is the data directory; it is created if missing.
	Dir string
	// APIServerPort is the kube-apiserver secure port on 127.0.0.1.
	APIServerPort int
	// EtcdPort is the etcd client port on 127.0.0.1.
	EtcdPort int
	// EtcdPeerPort is the etcd peer port on 127.0.0.1.
	EtcdPeerPort int
	// ControllerManager runs kube-controller-manager when true.
	ControllerManager bool
	// BinDir holds the kube-apiserver and kube-controller-manager binaries.
	BinDir string
	// KeepData keeps etcd data and certificates when the supervisor stops.
	KeepData bool
	// Provisioner runs the local dynamic volume provisioner (package
	// provisioner, name provisioner.Name) inside the supervisor. It needs
	// ControllerManager: the PV controller hands claims over to it.
	Provisioner bool
	// ProvisionerCapacity is the local storage of a node without the
	// provisioner.CapacityAnnotation, as a quantity; empty means
	// provisioner.DefaultNodeCapacity.
	ProvisionerCapacity string
	// ProvisionerNamespace holds the provisioner's CSIStorageCapacity
	// objects; empty means provisioner.DefaultNamespace.
	ProvisionerNamespace string
	// DRA runs the fake DRA driver (package dradriver, driver name
	// dradriver.DriverName) inside the supervisor: ResourceSlices for
	// the GPUs that node labels declare and the DeviceClass
	// dradriver.DeviceClassName. Pods' ResourceClaimTemplates also need
	// ControllerManager, whose resourceclaim controller creates their
	// claims; claims created directly do not.
	DRA bool
}

// DefaultOptions returns the options used by "devcluster up" when no flags
// are given.
func DefaultOptions() Options {
	return Options{
		Dir:               ".devcluster",
		APIServerPort:     6443,
		EtcdPort:          2379,
		EtcdPeerPort:      2380,
		ControllerManager: true,
		BinDir:            DefaultBinDir(),
		// The flag defaults are shown in --help.
		ProvisionerCapacity:  provisioner.DefaultNodeCapacity,
		ProvisionerNamespace: provisioner.DefaultNamespace,
	}
}

// DefaultBinDir is the directory holding the running executable, where
// "make build" puts devcluster next to the Kubernetes binaries.
func DefaultBinDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "bin"
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return filepath.Dir(exe)
}

// normalize makes paths absolute so the supervisor is independent of its
// working directory.
func (o Options) normalize() (Options, error) {
	if o.Dir == "" {
		return o, fmt.Errorf("no data directory given; pass --dir")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return o, fmt.Errorf("invalid data directory %s: %v", o.Dir, err)
	}
	o.Dir = dir
	if o.BinDir == "" {
		o.BinDir = DefaultBinDir()
	}
	if bin, err := filepath.Abs(o.BinDir); err == nil {
		o.BinDir = bin
	}
	return o, nil
}

func (o Options) path(name ...string) string {
	return filepath.Join(append([]string{o.Dir}, name...)...)
}

// KubeconfigPath is the admin kubeconfig of the instance in dir.
func KubeconfigPath(dir string) string {
	return filepath.Join(dir, KubeconfigFile)
}
