// Package gang tests berth's gang scheduling against a real API server
// (devcluster via internal/testenv) and the real `berth run` binary:
//
//   - the PodGroup CRDs of scheduler-plugins (scheduling.x-k8s.io) and
//     Volcano (scheduling.volcano.sh) that berth ships in deploy/crds and
//     the Helm chart, berth's Go types for them (pkg/apis), and the RBAC
//     its status writes need;
//   - three deadlock reports reproduced (scheduler-plugins #117/#114,
//     Volcano #3373, Koordinator #872), with a checker that watches every
//     bind: no gang stays partly bound, no pod moves, no node is
//     overfilled, and every job runs whole in bounded time — and a control
//     run without GangScheduling that the checker flags;
//   - berth SIGKILLed while a 40-member group is half bound: the next
//     berth completes it;
//   - the groups' status and events, never-fitting groups and pods that
//     name missing groups.
package gang
