package placement

import (
	"testing"

	"github.com/berthsched/berth/internal/testenv"
)

// TestMain starts the API server only: the tests create their pods
// directly, and nothing needs the controller manager.
func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }
