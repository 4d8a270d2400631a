// Package crds installs berth's CustomResourceDefinitions (deploy/crds:
// the PodGroup CRDs of scheduler-plugins and Volcano, Diktyo's AppGroup
// and NetworkTopology) on a test or demo
// cluster the way `kubectl apply --server-side -k deploy/crds` does. It is
// apart from internal/testenv so that the kube module, which imports
// testenv, does not take on kustomize.
package crds
