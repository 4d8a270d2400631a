package affinity

import (
	"testing"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

// startBerth runs berth in-process (default plugins) until the test ends.
func startBerth(t *testing.T) { berthtest.Start(t, nil) }
