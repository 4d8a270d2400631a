package prioritysort

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

func TestLess(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Second)
	qpi := func(p *v1.Pod, ts time.Time) *framework.QueuedPodInfo {
		return &framework.QueuedPodInfo{PodInfo: framework.NewPodInfo(p), Timestamp: ts}
	}
	tests := []struct {
		name string
		a, b *framework.QueuedPodInfo
		want bool
	}{
		{
			name: "higher priority first",
			a:    qpi(st.MakePod().Name("a").Priority(100).Obj(), t1),
			b:    qpi(st.MakePod().Name("b").Priority(10).Obj(), t0),
			want: true,
		},
		{
			name: "lower priority later",
			a:    qpi(st.MakePod().Name("a").Priority(10).Obj(), t0),
			b:    qpi(st.MakePod().Name("b").Priority(100).Obj(), t1),
			want: false,
		},
		{
			name: "equal priority, earlier first",
			a:    qpi(st.MakePod().Name("a").Priority(5).Obj(), t0),
			b:    qpi(st.MakePod().Name("b").Priority(5).Obj(), t1),
			want: true,
		},
		{
			name: "equal priority, later second",
			a:    qpi(st.MakePod().Name("a").Priority(5).Obj(), t1),
			b:    qpi(st.MakePod().Name("b").Priority(5).Obj(), t0),
			want: false,
		},
		{
			name: "equal priority and time is not less",
			a:    qpi(st.MakePod().Name("a").Obj(), t0),
			b:    qpi(st.MakePod().Name("b").Obj(), t0),
			want: false,
		},
		{
			name: "nil priority counts as zero",
			a:    qpi(st.MakePod().Name("a").Obj(), t1),
			b:    qpi(st.MakePod().Name("b").Priority(-1).Obj(), t0),
			want: true,
		},
	}
	pl := &PrioritySort{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pl.Less(tt.a, tt.b); got != tt.want {
				t.Errorf("Less() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	if _, err := New(context.Background(), nil, nil); err != nil {
		t.Fatalf("New(nil) error: %v", err)
	}
	if _, err := New(context.Background(), &configv1.NodeAffinityArgs{}, nil); err == nil {
		t.Fatal("New(wrong args) returned no error")
	}
}
