package imagelocality

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

func TestScore(t *testing.T) {
	tests := []struct {
		name  string
		pod   *v1.Pod
		nodes []*v1.Node
		want  []int64
	}{
		{
			name: "image on one of two nodes: half its size counts",
			// (250MB*1/2 - 23MB) * 100 / (1000MB - 23MB) = 10
			pod: st.MakePod().Name("p").Image("gcr.io/250").Obj(),
			nodes: []*v1.Node{
				st.MakeNode().Name("n1").Images(250*mb, "gcr.io/250:latest").Obj(),
				st.MakeNode().Name("n2").Obj(),
			},
			want: []int64{10, 0},
		},
		{
			name: "image on every node: full size counts",
			// (250MB - 23MB) * 100 / 977MB = 23
			pod: st.MakePod().Name("p").Image("gcr.io/250").Obj(),
			nodes: []*v1.Node{
				st.MakeNode().Name("n1").Images(250*mb, "gcr.io/250:latest").Obj(),
				st.MakeNode().Name("n2").Images(250*mb, "gcr.io/250:latest").Obj(),
			},
			want: []int64{23, 23},
		},
		{
			name: "two images: the range grows with the image count",
			// (40MB/2 + 300MB/2 - 23MB) * 100 / (2000MB - 23MB) = 7
			pod: st.MakePod().Name("p").Image("gcr.io/40").ContainerImage("gcr.io/300").Obj(),
			nodes: []*v1.Node{
				st.MakeNode().Name("n1").Images(40*mb, "gcr.io/40:latest").Images(300*mb, "gcr.io/300:latest").Obj(),
				st.MakeNode().Name("n2").Obj(),
			},
			want: []int64{7, 0},
		},
		{
			name: "small image is clamped to zero",
			pod:  st.MakePod().Name("p").Image("gcr.io/10").Obj(),
			nodes: []*v1.Node{
				st.MakeNode().Name("n1").Images(10*mb, "gcr.io/10:latest").Obj(),
			},
			want: []int64{0},
		},
		{
			name: "huge image is clamped to the maximum",
			pod:  st.MakePod().Name("p").Image("gcr.io/3000").Obj(),
			nodes: []*v1.Node{
				st.MakeNode().Name("n1").Images(3000*mb, "gcr.io/3000:latest").Obj(),
			},
			want: []int64{100},
		},
		{
			name: "explicit tag must match exactly",
			pod:  st.MakePod().Name("p").Image("gcr.io/500:v1").Obj(),
			nodes: []*v1.Node{
				st.MakeNode().Name("n1").Images(500*mb, "gcr.io/500:v1").Obj(),
				st.MakeNode().Name("n2").Images(500*mb, "gcr.io/500:latest").Obj(),
			},
			// Each image is on one node of two: (250MB - 23MB) * 100 / 977MB.
			want: []int64{23, 0},
		},
		{
			name: "init containers and image volumes count",
			// Three images; the node has the init image and the volume image:
			// (600MB + 600MB - 23MB) * 100 / (3000MB - 23MB) = 39
			pod: st.MakePod().Name("p").Image("app").InitImage("init:v1").ImageVolume("data", "data:v2").Obj(),
			nodes: []*v1.Node{
				st.MakeNode().Name("n1").Images(600*mb, "init:v1").Images(600*mb, "data:v2").Obj(),
			},
			want: []int64{39},
		},
		{
			name: "every name of an image is looked up",
			pod:  st.MakePod().Name("p").Image("registry.example.com:5000/app").Obj(),
			nodes: []*v1.Node{
				st.MakeNode().Name("n1").Images(3000*mb, "registry.example.com:5000/app@sha256:abc", "registry.example.com:5000/app:latest").Obj(),
			},
			want: []int64{100},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := st.NewSnapshot(nil, tt.nodes)
			p, err := New(context.Background(), nil, st.NewHandle(snap))
			if err != nil {
				t.Fatal(err)
			}
			pl := p.(*ImageLocality)
			var got []int64
			for _, ni := range snap.List() {
				s, status := pl.Score(context.Background(), framework.NewCycleState(), tt.pod, ni)
				if !status.IsSuccess() {
					t.Fatalf("Score status = %v", status)
				}
				got = append(got, s)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("scores (-want +got):\n%s", diff)
			}
			if pl.ScoreExtensions() != nil {
				t.Error("ScoreExtensions() != nil")
			}
		})
	}
}

func TestNormalizedImageName(t *testing.T) {
	tests := map[string]string{
		"nginx":                            "nginx:latest",
		"nginx:1.27":                       "nginx:1.27",
		"library/nginx":                    "library/nginx:latest",
		"localhost:5000/app":               "localhost:5000/app:latest",
		"localhost:5000/app:v2":            "localhost:5000/app:v2",
		"gcr.io/app@sha256:0123456789abcd": "gcr.io/app@sha256:0123456789abcd",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			if got := normalizedImageName(in); got != want {
				t.Errorf("normalizedImageName(%q) = %q, want %q", in, got, want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	if _, err := New(context.Background(), &configv1.NodeAffinityArgs{}, st.NewHandle(nil)); err == nil {
		t.Error("New(wrong args) returned no error")
	}
	if _, err := New(context.Background(), nil, nil); err == nil {
		t.Error("New(nil handle) returned no error")
	}
}
