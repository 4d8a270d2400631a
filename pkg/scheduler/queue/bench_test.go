package queue

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
)

// BenchmarkAddPop measures filling the queue with 10,000 pods of mixed
// priority and draining it.
func BenchmarkAddPop(b *testing.B) {
	const n = 10000
	pods := make([]*v1.Pod, n)
	for i := range pods {
		pods[i] = pod(fmt.Sprintf("p%d", i)).Priority(int32(i % 13)).Obj()
	}
	b.ReportAllocs()
	for b.Loop() {
		q, _, logger := newTestQueue(b, Options{})
		for _, p := range pods {
			q.Add(logger, p)
		}
		for range n {
			p, err := q.Pop(logger)
			if err != nil {
				b.Fatal(err)
			}
			q.Done(p.Pod.UID)
		}
	}
}
