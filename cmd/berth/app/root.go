package app

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/berthsched/berth/pkg/version"
)

// NewRootCommand returns the berth command with its subcommands.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "berth",
		Short:         "berth is a fast, explainable Kubernetes scheduler",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	if name := commandName(os.Args[0]); name != "berth" {
		// As a kubectl plugin, help and usage say "kubectl berth ...".
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: name}
	}
	root.AddCommand(newRunCommand(), newExplainCommand(), newSimulateCommand(), newSnapshotCommand(), newLintCommand(), newWebhookCommand(), newExtenderCommand(), newVersionCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print berth's version, git commit and Kubernetes library version",
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := version.Get()
			if asJSON {
				b, err := json.MarshalIndent(info, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout(), info.String())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
