// Package webhook is `berth webhook`: a validating admission webhook
// (admission.k8s.io/v1) that runs pkg/lint's rules on Pods and the
// workload kinds as they are created or updated.
//
// It warns by default: findings go into AdmissionResponse.Warnings, which
// kubectl prints as "Warning: ..." while the object is admitted. The
// /deny path (meant for a second webhook entry whose namespaceSelector
// picks the namespaces labelled for it) also rejects objects with an
// error finding, so berth needs no RBAC on namespaces.
//
// A webhook must never block the cluster, so it fails open at every
// level: the ValidatingWebhookConfiguration uses failurePolicy Ignore and
// a short timeout (the API server admits when berth is down), and inside
// berth an undecodable request, a rule that panics or any other internal
// error admits the object and counts berth_webhook_fail_open_total.
//
// The cluster facts the rules compare with (nodes, storage and priority
// classes, the server version, berth's profiles) come from informers
// through Facts, read-only. Certs handles TLS when berth manages its own
// certificate: a CA and serving certificate in a directory, and the CA
// kept in the webhook configuration's caBundle.
package webhook
