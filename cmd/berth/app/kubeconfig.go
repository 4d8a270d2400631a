package app

import (
	"os"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/berthsched/berth/pkg/config"
)

// clientConfig is how the client commands (explain, lint --cluster,
// snapshot save, simulate whatif --cluster) find the cluster: --kubeconfig,
// else $KUBECONFIG or ~/.kube/config, else the config file's
// clientConnection.kubeconfig (when $KUBECONFIG is unset), else
// in-cluster. cfg may be nil.
func clientConfig(kubeconfig string, cfg *config.Config) clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	} else if cfg != nil && cfg.ClientConnection.Kubeconfig != "" && os.Getenv(clientcmd.RecommendedConfigPathEnvVar) == "" {
		rules.ExplicitPath = cfg.ClientConnection.Kubeconfig
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
}
