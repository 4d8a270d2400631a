package badinput

import (
	"testing"

	"github.com/berthsched/berth/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }
