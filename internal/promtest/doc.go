// Package promtest runs a real Prometheus server and a synthetic metrics
// exporter for tests of berth's load-aware scheduling, which reads node
// utilisation from Prometheus: the tests exercise the real query engine,
// scraping, staleness and restarts rather than a fake HTTP API.
//
// Start runs bin/prometheus (testenv.BinDir(); `make build` fetches it
// with hack/ensure-prometheus.sh) on a free loopback port with a generated
// config, storage under t.TempDir(). Stop and Restart kill it and start it
// again on the same port and storage, for "the metrics source dies and
// comes back" tests.
//
// Commands that have no testing.TB (the demo, hack/demo) use the same
// machinery through StartServer and ListenExporter, which return errors
// and are stopped with Close; Kill, Relaunch, AwaitSeries and
// QueryContext are Stop, Restart, WaitForSeries and Query without a
// test to fail.
//
// Exporter serves per-node series shaped like node-exporter's and DCGM's
// (node_cpu_seconds_total, node_memory_*, node_disk_io_time_seconds_total,
// DCGM_FI_DEV_GPU_UTIL), each labelled instance="<node name>", whose
// utilisation the test sets. So that rate(...[1m]) is right from the first
// scrape rather than only after a minute of samples, the first scrape that
// includes a node also carries BackfillWindow of timestamped history for
// its counters, as if the node had run at its utilisation at that moment
// for that long (see Exporter).
//
// Typical use:
//
//	e := promtest.NewExporter(t)
//	e.SetCPU("node-a", 0.9)
//	s := promtest.Start(t, time.Second, e.Addr())
//	s.WaitForSeries(t, `node_cpu_seconds_total{instance="node-a"}`, 1, 30*time.Second)
//	// point the code under test at s.URL
package promtest
