package lint

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	volcanov1beta1 "github.com/berthsched/berth/pkg/apis/volcano/v1beta1"
	xv1alpha1 "github.com/berthsched/berth/pkg/apis/xscheduling/v1alpha1"
)

// Object is one decoded Kubernetes object of a manifest, with where it
// came from.
type Object struct {
	// Source is the file, document and List item (Line is unused here).
	Source Source
	// Ref names the object.
	Ref ObjectRef
	// Obj is the typed object (*appsv1.Deployment, *v1.Pod …).
	Obj runtime.Object

	// node is the document's YAML, for finding the line of a field path;
	// nil for objects that did not come from text.
	node *yaml.Node
	// itemPrefix is "items[N]" for an item of a List, so field paths
	// relative to the item resolve inside the document.
	itemPrefix string
	// fileDisabled are the rules a file-level comment disables.
	fileDisabled map[string]bool
}

// Reader decodes manifests with the Kubernetes API types: client-go's
// scheme plus the PodGroup CRDs berth reads. It is safe for concurrent
// use.
type Reader struct {
	decoder runtime.Decoder
}

// NewReader returns a Reader with its own scheme (never client-go's global
// one, which other code may extend).
func NewReader() *Reader {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(xv1alpha1.AddToScheme(s))
	utilruntime.Must(volcanov1beta1.AddToScheme(s))
	return &Reader{decoder: kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, s, s,
		kjson.SerializerOptions{Yaml: true, Strict: true})}
}

// manifestExts are the file extensions a directory walk reads.
var manifestExts = map[string]bool{".yaml": true, ".yml": true, ".json": true}

// ReadPaths reads files, directories (recursively, *.yaml, *.yml and
// *.json) and "-" (stdin). Problems inside documents are findings; the
// error is only for paths that cannot be read at all, which `berth lint`
// reports as an input error.
func (r *Reader) ReadPaths(paths []string, stdin io.Reader) ([]*Object, []Finding, error) {
	var objs []*Object
	var findings []Finding
	read := func(name string, data []byte) {
		o, f := r.ReadBytes(name, data)
		objs, findings = append(objs, o...), append(findings, f...)
	}
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, nil, fmt.Errorf("reading stdin: %w", err)
			}
			read("-", data)
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, nil, err
		}
		if !info.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, nil, err
			}
			read(p, data)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !manifestExts[strings.ToLower(filepath.Ext(path))] {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			read(path, data)
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return objs, findings, nil
}

// ReadBytes reads every document of one YAML or JSON stream. Unknown kinds
// are skipped; a document that cannot be decoded is a RuleUndecodable
// finding, and reading stops there only if the YAML stream itself is
// broken (later documents cannot be found).
func (r *Reader) ReadBytes(file string, data []byte) (objs []*Object, findings []Finding) {
	disabled := fileDisables(data)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for index := 0; ; index++ {
		src := Source{File: file, Document: index, Item: -1}
		var doc yaml.Node
		err := decodeNode(dec, &doc)
		if errors.Is(err, io.EOF) {
			return objs, findings
		}
		if err != nil {
			if !disabled[RuleUndecodable] && !disabled["ALL"] {
				findings = append(findings, undecodable(src, "not valid YAML: "+err.Error()))
			}
			return objs, complete(findings)
		}
		if doc.Kind == yaml.DocumentNode && len(doc.Content) == 0 {
			continue
		}
		root := &doc
		if doc.Kind == yaml.DocumentNode {
			root = doc.Content[0]
		}
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue // a document of only comments
		}
		o, f := r.readDocument(src, root, disabled)
		objs, findings = append(objs, o...), append(findings, f...)
	}
}

// decodeNode is yaml's Decode with a panic turned into an error: the
// reader must survive any input.
func decodeNode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("YAML parser failed: %v", p)
		}
	}()
	return dec.Decode(n)
}

func (r *Reader) readDocument(src Source, root *yaml.Node, disabled map[string]bool) (objs []*Object, findings []Finding) {
	defer func() {
		if p := recover(); p != nil {
			objs, findings = nil, []Finding{undecodable(src, fmt.Sprintf("internal error decoding the document: %v", p))}
		}
	}()
	if root.Kind != yaml.MappingNode {
		return nil, []Finding{undecodable(src, "the document is not an object (a YAML mapping)")}
	}
	line := root.Line
	for _, key := range []string{"apiVersion", "kind"} {
		if v := mappingValue(root, key); v == nil || v.Kind != yaml.ScalarNode || v.Value == "" {
			f := undecodable(src, "the document has no "+key)
			f.Source.Line = line
			return nil, []Finding{f}
		}
	}
	data, err := yaml.Marshal(root)
	if err != nil {
		return nil, []Finding{undecodable(src, err.Error())}
	}
	obj, f := r.decode(src, data, root, "", disabled)
	if obj == nil {
		return nil, f
	}
	findings = f
	list, ok := obj.Obj.(*v1.List)
	if !ok {
		return []*Object{obj}, findings
	}
	for i, item := range list.Items {
		isrc := src
		isrc.Item = i
		prefix := fmt.Sprintf("items[%d]", i)
		o, f := r.decode(isrc, item.Raw, root, prefix, disabled)
		findings = append(findings, f...)
		if o != nil {
			if _, nested := o.Obj.(*v1.List); !nested {
				objs = append(objs, o)
			}
		}
	}
	return objs, findings
}

var strictField = regexp.MustCompile(`(unknown|duplicate) field "([^"]*)"`)

// decode decodes one object. Unknown kinds give (nil, nil): they are
// skipped silently.
func (r *Reader) decode(src Source, data []byte, root *yaml.Node, prefix string, disabled map[string]bool) (*Object, []Finding) {
	obj, gvk, err := r.decoder.Decode(data, nil, nil)
	var findings []Finding
	if err != nil && runtime.IsStrictDecodingError(err) && obj != nil {
		if se, ok := runtime.AsStrictDecodingError(err); ok {
			for _, e := range se.Errors() {
				f := Finding{Rule: RuleUnknownField, Source: src, Message: e.Error()}
				if m := strictField.FindStringSubmatch(e.Error()); m != nil {
					f.Field = m[2]
					f.Message = fmt.Sprintf("%s field %q: the %s API has no such field", m[1], m[2], gvk.Kind)
					if m[1] == "duplicate" {
						f.Message = fmt.Sprintf("field %q is given twice; only one value takes effect", m[2])
					}
				}
				findings = append(findings, f)
			}
		}
		err = nil
	}
	switch {
	case err != nil && runtime.IsNotRegisteredError(err):
		return nil, nil
	case err != nil:
		msg := err.Error()
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		f := undecodable(src, msg)
		return nil, []Finding{f}
	}
	o := &Object{Source: src, Obj: obj, node: root, itemPrefix: prefix, fileDisabled: disabled}
	o.Ref = ObjectRef{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind}
	if acc, err := meta.Accessor(obj); err == nil {
		o.Ref.Namespace, o.Ref.Name = acc.GetNamespace(), acc.GetName()
	}
	for i := range findings {
		findings[i].Object = o.Ref
		findings[i].Source.Line = o.line(findings[i].Field)
	}
	return o, filterDisabled(complete(findings), o, nil)
}

func undecodable(src Source, msg string) Finding {
	return Finding{Rule: RuleUndecodable, Name: "undecodable", Severity: Error, Source: src, Message: msg,
		Remedy: "Fix the document so that it is a valid Kubernetes object; nothing in it was checked."}
}

// FileDisableComment in a comment line of a file disables rules for every
// object in the file: `# lint.berth.io/disable-file: BL021,BL025` (or
// "all").
const FileDisableComment = "lint.berth.io/disable-file:"

func fileDisables(data []byte) map[string]bool {
	var out map[string]bool
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "#") {
			continue
		}
		_, rest, ok := strings.Cut(line, FileDisableComment)
		if !ok {
			continue
		}
		if out == nil {
			out = map[string]bool{}
		}
		for id := range parseRuleList(rest) {
			out[id] = true
		}
	}
	return out
}

// parseRuleList reads "BL001, BL002 all" into a set.
func parseRuleList(s string) map[string]bool {
	out := map[string]bool{}
	for _, id := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		out[strings.ToUpper(strings.TrimSpace(id))] = true
	}
	return out
}
