package lint

import (
	"strconv"

	yaml "go.yaml.in/yaml/v3"
)

// line returns the 1-based line of a field path ("spec.containers[0].image")
// in the object's document: the line of the deepest part of the path that
// exists, so a finding about a missing field points at its parent. It is
// 0 for objects that did not come from text.
func (o *Object) line(path string) int {
	if o == nil || o.node == nil {
		return 0
	}
	n := o.node
	if o.itemPrefix != "" {
		path = o.itemPrefix + "." + path
	}
	best := n.Line
	for _, el := range splitPath(path) {
		next := child(n, el)
		if next == nil {
			break
		}
		n = next
		best = n.Line
	}
	return best
}

func child(n *yaml.Node, el string) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		return mappingValue(n, el)
	case yaml.SequenceNode:
		i, err := strconv.Atoi(el)
		if err != nil || i < 0 || i >= len(n.Content) {
			return nil
		}
		return n.Content[i]
	}
	return nil
}

// mappingValue returns the value of key in a mapping node, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// splitPath splits a field.Path string into its names, indexes and keys:
// "a.b[0].c[x.y/z]" is a, b, 0, c, x.y/z.
func splitPath(p string) []string {
	var out []string
	cur := []byte{}
	flush := func() {
		if len(cur) > 0 {
			out = append(out, string(cur))
			cur = cur[:0]
		}
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '.':
			flush()
		case '[':
			flush()
			j := i + 1
			for j < len(p) && p[j] != ']' {
				j++
			}
			out = append(out, p[i+1:min(j, len(p))])
			i = j
		default:
			cur = append(cur, c)
		}
	}
	flush()
	return out
}
