package main

import (
	"os"

	"github.com/berthsched/berth/cmd/berth/app"
)

func main() {
	if err := app.NewRootCommand().Execute(); err != nil {
		os.Exit(app.ExitCode(err))
	}
}
