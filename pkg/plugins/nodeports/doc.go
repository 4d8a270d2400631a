// Package nodeports provides NodePorts, which rejects nodes where a host port
// the pod asks for (on the same IP and protocol, or on the wildcard address)
// is already taken by a pod on the node.
package nodeports
