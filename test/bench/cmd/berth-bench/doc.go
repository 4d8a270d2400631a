// Command berth-bench runs berth's benchmark: every workload of
// test/bench/workloads against the stock kube-scheduler, berth and a raw
// bind ceiling (and, on workloads with shells: true, berth's two
// kube-scheduler shells, berth-extender and plugin-mode) on a fresh local
// control plane, and writes results.json and results.md to --out.
// Progress goes to stderr.
//
//	go run ./test/bench/cmd/berth-bench --scale small --out bench-results/
package main
