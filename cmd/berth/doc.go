// Command berth is the berth scheduler and its tools.
package main
