// Package svgchart draws time series as a grid of chart panels in one
// self-contained SVG file, in the look of Grafana's default theme.
//
// It exists because the pictures in docs/ (the dashboard's main panels,
// the soak run's memory and latency over an hour) are made from a real
// berth run's Prometheus data on a machine where Grafana cannot be
// installed: a range query's samples go in, a file a browser and GitHub
// render comes out, with no plotting dependency.
package svgchart
