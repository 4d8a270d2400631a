package plugins

import (
	"strings"
	"testing"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/plugins/storagelocality"
)

// TestStorageArgsFromConfig loads the storage plugins' args the way an
// operator writes them, through the strict config loader.
func TestStorageArgsFromConfig(t *testing.T) {
	cfg, err := config.Load([]byte(`
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: berth
  pluginConfig:
  - name: StorageLocality
    args:
      capacityMode: Pack
      zoneWeight: 5
  - name: VolumeBinding
    args:
      bindTimeoutSeconds: 30
`), NewInTreeRegistry())
	if err != nil {
		t.Fatal(err)
	}
	sl := cfg.Profiles[0].PluginArgs[storagelocality.Name].(*storagelocality.Args)
	if sl.CapacityMode != storagelocality.Pack || *sl.ZoneWeight != 5 || *sl.ClassWeight != 2 {
		t.Errorf("StorageLocality args = %+v", sl)
	}
	if _, err := config.Load([]byte(`
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: berth
  pluginConfig:
  - name: StorageLocality
    args:
      capacityMode: Diagonal
  - name: VolumeBinding
    args:
      bindTimeoutSeconds: -1
`), NewInTreeRegistry()); err == nil ||
		!strings.Contains(err.Error(), "pluginConfig[0].args.capacityMode") ||
		!strings.Contains(err.Error(), "pluginConfig[1].args.bindTimeoutSeconds") {
		t.Errorf("bad args: err = %v, want both errors with their paths", err)
	}
}
