// Package lint tests `berth lint --cluster` and `berth webhook` end to end
// against a real kube-apiserver (devcluster via internal/testenv) with the
// berth binary ($BERTH_BIN_DIR/berth; rebuild it with make berth):
//
//   - lint compares manifests with the cluster's nodes, storage and
//     priority classes and reports the cluster rules;
//   - the webhook runs as a process with self-managed certificates and a
//     ValidatingWebhookConfiguration pointing at 127.0.0.1; kubectl apply
//     of a bad Deployment prints berth's warning, a namespace labelled for
//     deny mode rejects it, and once the webhook is killed kubectl apply
//     still succeeds and the API server counts the fail-open.
package lint
