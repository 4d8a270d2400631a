package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's process, as in the Dockerfile.
var (
	entrypoint = []string{"/berth"}
	cmd        = []string{"run"}
)

const user = "65532:65532"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ocibuild:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: ocibuild build|verify --out DIR PLATFORM=BINARY…")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	out := fs.String("out", "", "OCI layout directory")
	tag := fs.String("tag", "", "image reference recorded in the index annotation")
	created := fs.String("created", "", "creation time (RFC 3339) recorded in the image config; empty: the Unix epoch, for reproducible images")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		return errors.New("--out and at least one PLATFORM=BINARY are required")
	}
	bins := map[string]string{}
	var platforms []string
	for _, a := range fs.Args() {
		p, bin, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("%q is not PLATFORM=BINARY", a)
		}
		bins[p] = bin
		platforms = append(platforms, p)
	}
	switch args[0] {
	case "build":
		t := time.Unix(0, 0).UTC()
		if *created != "" {
			var err error
			if t, err = time.Parse(time.RFC3339, *created); err != nil {
				return err
			}
		}
		return build(*out, *tag, t, platforms, bins)
	case "verify":
		return verify(*out, platforms, bins)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func parsePlatform(s string) (v1.Platform, error) {
	os, arch, ok := strings.Cut(s, "/")
	if !ok {
		return v1.Platform{}, fmt.Errorf("platform %q is not OS/ARCH", s)
	}
	return v1.Platform{OS: os, Architecture: arch}, nil
}

// layer is a one-file layer: the binary at /berth, mode 0755, root-owned,
// with a fixed time so that the same binary gives the same digest.
func layer(bin string) (v1.Layer, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "berth", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
}

func build(out, tag string, created time.Time, platforms []string, bins map[string]string) error {
	var idx v1.ImageIndex = empty.Index
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	for _, p := range platforms {
		plat, err := parsePlatform(p)
		if err != nil {
			return err
		}
		l, err := layer(bins[p])
		if err != nil {
			return err
		}
		img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), l)
		if err != nil {
			return err
		}
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		cf, err := img.ConfigFile()
		if err != nil {
			return err
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Created = plat.OS, plat.Architecture, v1.Time{Time: created}
		cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.User = entrypoint, cmd, user
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &plat}})
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	// index.json holds one entry, the multi-platform index, named by its
	// reference as OCI tools (skopeo's oci:DIR:REF) look it up.
	p, err := layout.Write(out, empty.Index)
	if err != nil {
		return err
	}
	var opts []layout.Option
	if tag != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag}))
	}
	return p.AppendIndex(idx, opts...)
}

func verify(out string, platforms []string, bins map[string]string) error {
	p, err := layout.FromPath(out)
	if err != nil {
		return err
	}
	top, err := p.ImageIndex()
	if err != nil {
		return err
	}
	// build stores the multi-platform index as the layout's only entry.
	im, err := top.IndexManifest()
	if err != nil {
		return err
	}
	if len(im.Manifests) != 1 {
		return fmt.Errorf("%s: %d entries in index.json, want 1 (the multi-platform index)", out, len(im.Manifests))
	}
	idx, err := top.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		return err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	var got []string
	for _, d := range m.Manifests {
		if d.Platform == nil {
			return fmt.Errorf("image %s has no platform", d.Digest)
		}
		plat := d.Platform.OS + "/" + d.Platform.Architecture
		got = append(got, plat)
		bin, ok := bins[plat]
		if !ok {
			return fmt.Errorf("unexpected platform %s", plat)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		if err := checkImage(img, plat, bin); err != nil {
			return fmt.Errorf("%s: %w", plat, err)
		}
		fmt.Printf("%s %s: /berth = %s, entrypoint %v, cmd %v, user %s\n", plat, d.Digest, bin, entrypoint, cmd, user)
	}
	slices.Sort(got)
	want := slices.Clone(platforms)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return fmt.Errorf("platforms %v, want %v", got, want)
	}
	return nil
}

func checkImage(img v1.Image, plat, bin string) error {
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	if cf.OS+"/"+cf.Architecture != plat || !slices.Equal(cf.Config.Entrypoint, entrypoint) || !slices.Equal(cf.Config.Cmd, cmd) || cf.Config.User != user {
		return fmt.Errorf("config %s/%s entrypoint %v cmd %v user %q", cf.OS, cf.Architecture, cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.User)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		return fmt.Errorf("%d layers (%v), want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	h, err := tr.Next()
	if err != nil {
		return err
	}
	if h.Name != "berth" || h.Mode&0o111 == 0 {
		return fmt.Errorf("layer holds %s mode %o, want an executable berth", h.Name, h.Mode)
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, tr); err != nil {
		return err
	}
	if _, err := tr.Next(); err != io.EOF {
		return errors.New("the layer holds more than /berth")
	}
	want, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	if w := sha256.Sum256(want); !bytes.Equal(sum.Sum(nil), w[:]) {
		return fmt.Errorf("/berth is not %s", bin)
	}
	return nil
}
