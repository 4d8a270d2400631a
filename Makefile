# berth — build, test, demo.
#
#   make build   berth + the local control plane binaries (first build compiles
#                kube-apiserver & co. from source: see README for timings)
#                + bin/prometheus for the load-aware tests (make prometheus)
#   make test    unit tests of both modules + integration tests on devcluster
#   make demo    berth on a local control plane with a sample workload
#   make bench   berth vs kube-scheduler benchmark (SCALE=small for a quick run;
#                SUITE=upstream for kube-scheduler's own scheduler_perf workloads)
#   make bench-inproc  kube-scheduler and berth in one process, CPU per pod
#   make scale   15,000 nodes / 150,000 pods: sync time, memory (docs/scale.md)
#   make conformance  differential campaign vs kube-scheduler (SEEDS=N)
#   make lint    gofmt, go vet, staticcheck
#   make fuzz    the fuzz targets for FUZZTIME each (default 10s)
#   make release static kubectl-berth archives, SHA256SUMS, krew manifest and
#                the multi-platform image (OCI layout) in dist/, verified

GO        ?= go
BIN       := $(CURDIR)/bin
KUBE_VERSION := v1.37.2
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BERTH_LDFLAGS := -X github.com/berthsched/berth/pkg/version.Version=$(VERSION) -X github.com/berthsched/berth/pkg/version.GitCommit=$(COMMIT)
KUBE_LDFLAGS  := -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 -X k8s.io/component-base/version.gitTreeState=clean
KUBE_BINS := $(BIN)/kube-apiserver $(BIN)/kube-controller-manager $(BIN)/kube-scheduler
# Integration tests start one control plane per package; keep go test's
# package parallelism at the core count so they do not starve each other.
TEST_FLAGS ?= -count=1 -timeout 30m
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

export BERTH_BIN_DIR := $(BIN)

# SCALE=small shrinks every benchmark workload for a quick run.
SCALE ?= full
# WORKLOADS restricts make bench to some workloads (comma-separated names,
# e.g. WORKLOADS=StatefulVolumes); empty runs them all.
WORKLOADS ?=
# SUITE=upstream runs kube-scheduler's own scheduler_perf workloads (the
# performance-config.yaml files of the k8s.io/kubernetes module kube/
# requires) instead of test/bench/workloads; WORKLOADS then names upstream
# test cases (TestCase or TestCase/Workload) and UPSTREAM_FACTOR scales
# their node, pod, claim and group counts (0.5 fits ~20 min on 2 cores).
SUITE ?= builtin
UPSTREAM_FACTOR ?= 1
# SEEDS sets the length of a randomized conformance campaign; GANG_SEEDS
# that of its gang (PodGroup) family.
SEEDS ?= 20000
GANG_SEEDS ?= 2000
# FUZZTIME is how long make fuzz (and make test) runs each fuzz target.
FUZZTIME ?= 6s
# CHAOS_FLAGS are berth-chaos's flags; CHAOS_FUZZTIME how long make chaos
# runs each fuzz target.
CHAOS_FLAGS ?=
CHAOS_FUZZTIME ?= 30s
# DURATION is how long make soak churns.
DURATION ?= 1h

.PHONY: all build berth devcluster kube-bins kube-scheduler-berth image-kube-scheduler-berth prometheus test test-unit test-kube fuzz demo bench bench-inproc scale chaos soak conformance lint release clean

all: build

build: berth devcluster kube-bins kube-scheduler-berth prometheus

berth:
	$(GO) build -ldflags "$(BERTH_LDFLAGS)" -o $(BIN)/berth ./cmd/berth

devcluster:
	cd kube && $(GO) build -o $(BIN)/devcluster ./cmd/devcluster

# kube-scheduler v1.37 with berth's own plugins registered out of tree
# (plugin mode, docs/plugin-mode.md); kube/test/pluginmode runs it.
kube-scheduler-berth:
	cd kube && $(GO) build -ldflags "$(KUBE_LDFLAGS)" -o $(BIN)/kube-scheduler-berth ./cmd/kube-scheduler-berth

# Plugin mode's image (needs a container builder such as docker).
image-kube-scheduler-berth:
	docker build -f Dockerfile.kube-scheduler-berth --build-arg KUBE_VERSION=$(KUBE_VERSION) \
		-t ghcr.io/berthsched/kube-scheduler-berth:$(VERSION) .

# The stock Kubernetes binaries are rebuilt only when the kube module's
# dependencies change (go build's cache makes a rebuild a relink anyway).
kube-bins: $(KUBE_BINS)

$(KUBE_BINS) &: kube/go.mod kube/go.sum
	cd kube && $(GO) build -ldflags "$(KUBE_LDFLAGS)" -o $(BIN)/ \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler
	touch $(KUBE_BINS)

# A real Prometheus server for the load-aware scheduling tests
# (internal/promtest) and its promtool for the alerting rules test:
# Debian's prometheus package unpacked into bin/, no system service
# (hack/ensure-prometheus.sh; needs apt, ~19 MB download).
prometheus: $(BIN)/prometheus $(BIN)/promtool

$(BIN)/prometheus $(BIN)/promtool &:
	bash hack/ensure-prometheus.sh $(BIN)

test: build
	$(GO) test $(TEST_FLAGS) ./...
	cd kube && $(GO) test $(TEST_FLAGS) ./...
	$(MAKE) --no-print-directory fuzz

# The fuzz targets: berth lint's reader and rules, the config loader with
# every plugin's args, the GPU annotations, the talks-to annotation, the
# openb trace readers, the what-if snapshot decoder and the load file
# source, each for FUZZTIME (make test runs them briefly, make chaos
# longer; their seed corpora also run as plain tests). The first run
# builds client-go with coverage instrumentation: a few minutes on a
# fresh machine.
FUZZ_TARGETS = ./pkg/lint/:FuzzRead ./pkg/lint/:FuzzLintPod ./pkg/config/:FuzzLoad \
	./pkg/plugins/gpushare/:FuzzPodRequest ./pkg/plugins/gpushare/:FuzzParseAssignment \
	./pkg/placement/network/:FuzzParseTalksTo ./pkg/simulate/:FuzzReadTrace \
	./pkg/simulate/whatif/:FuzzDecode ./pkg/metricsource/:FuzzFileSource
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t##*:} ($${t%%:*}) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

demo: build
	$(GO) run ./hack/demo

# berth vs stock kube-scheduler vs the raw bind ceiling, same control plane,
# one run; writes bench-results/results.{md,json}. See docs/benchmarks.md.
bench: build
	$(GO) run ./test/bench/cmd/berth-bench --suite $(SUITE) --scale $(SCALE) --workloads "$(WORKLOADS)" \
		--upstream-workloads "$(WORKLOADS)" --upstream-factor $(UPSTREAM_FACTOR) --out bench-results/

# kube-scheduler v1.37 and berth in one process on the same generated
# cluster, CPU per scheduled pod at 1,000/5,000/15,000 nodes (~8 min on 2
# cores; no API server to blur the ratio). docs/inprocess-bench.md.
bench-inproc:
	cd kube && $(GO) test ./inprocbench -run XXX -bench SideBySide -benchtime=2000x -timeout 60m

# berth vs kube-scheduler on one 15,000-node / 150,000-pod cluster: informer
# sync, memory, throughput (~25 min on 2 cores); writes scale-results/.
# docs/scale.md.
scale: build
	$(GO) run ./test/bench/cmd/berth-scale --out scale-results/

# Chaos: every fault scenario of test/chaos on devcluster (~4 min; prints
# scenario, pods, violations, recovery time; fails on any violation), then
# every fuzz target for CHAOS_FUZZTIME (~4.5 min). CHAOS_FLAGS, e.g.
# --scenarios apiserver-restart,leader-kill --pods 150. See docs/chaos.md.
chaos: build
	$(GO) run ./test/chaos/cmd/berth-chaos $(CHAOS_FLAGS)
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(CHAOS_FUZZTIME)

# berth under steady churn for DURATION (default 1h) on a local control
# plane, scraped by the real Prometheus: RSS, heap, goroutines, queues and
# p99 create-to-bind over time, plotted in soak-results/soak.svg, with a
# flatness verdict (exit 1 when memory or goroutines grow). docs/soak.md.
soak: build
	$(GO) run ./test/soak/cmd/berth-soak --duration $(DURATION) --out soak-results/

# A long randomized differential campaign against kube-scheduler's own
# plugins; prints the agreement rate per plugin.
conformance:
	cd kube && $(GO) run ./cmd/conformance --seeds $(SEEDS) --gang-seeds $(GANG_SEEDS)

# Release artefacts for linux/amd64 and linux/arm64 in dist/ (not part of
# make test): see hack/release.sh. No container daemon needed.
release:
	bash hack/release.sh $(VERSION) $(COMMIT) dist

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd kube && $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clean:
	rm -rf $(BIN) .devcluster
