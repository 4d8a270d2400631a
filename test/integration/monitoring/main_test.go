package monitoring

import (
	"testing"

	"github.com/berthsched/berth/internal/testenv"
)

// The workload needs only the API server: no controllers, no kubelets.
func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }
