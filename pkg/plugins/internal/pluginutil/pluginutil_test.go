package pluginutil

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/berthsched/berth/pkg/framework"
)

func TestNormalizeScores(t *testing.T) {
	tests := []struct {
		name    string
		reverse bool
		in      []int64
		want    []int64
	}{
		{name: "empty", in: nil, want: nil},
		{name: "all zero", in: []int64{0, 0}, want: []int64{0, 0}},
		{name: "all zero reversed", reverse: true, in: []int64{0, 0}, want: []int64{100, 100}},
		{name: "scaled by max", in: []int64{1, 2, 3}, want: []int64{33, 66, 100}},
		{name: "scaled reversed", reverse: true, in: []int64{1, 2, 3}, want: []int64{67, 34, 0}},
		{name: "already in range", in: []int64{10, 100}, want: []int64{10, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var scores framework.NodeScoreList
			for i, s := range tt.in {
				scores = append(scores, framework.NodeScore{Name: string(rune('a' + i)), Score: s})
			}
			NormalizeScores(framework.MaxNodeScore, tt.reverse, scores)
			var got []int64
			for _, s := range scores {
				got = append(got, s.Score)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("scores (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAs(t *testing.T) {
	n1 := &v1.Node{}
	n1.Name = "old"
	n2 := &v1.Node{}
	n2.Name = "new"

	o, n, err := As[*v1.Node](n1, n2)
	if err != nil || o != n1 || n != n2 {
		t.Fatalf("As(update) = %v, %v, %v", o, n, err)
	}
	o, n, err = As[*v1.Node](nil, n2)
	if err != nil || o != nil || n != n2 {
		t.Fatalf("As(add) = %v, %v, %v", o, n, err)
	}
	o, _, err = As[*v1.Node](cache.DeletedFinalStateUnknown{Key: "old", Obj: n1}, nil)
	if err != nil || o != n1 {
		t.Fatalf("As(tombstone) = %v, %v", o, err)
	}
	if _, _, err := As[*v1.Node](nil, &v1.Pod{}); err == nil {
		t.Fatal("As(wrong type) returned no error")
	}
}
