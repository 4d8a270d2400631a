package gang

import (
	"testing"

	"github.com/berthsched/berth/internal/testenv"
)

// The CRD tests need only the API server.
func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }
