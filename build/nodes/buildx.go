package nodes

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// buildxStore reads buildx's builders: one JSON file per builder in
// dir/instances, named as the builder, as buildx's store/store.go writes
// them.
type buildxStore struct{ dir string }

// buildxNodeGroup is buildx's store.NodeGroup as it is saved.
type buildxNodeGroup struct {
	Name    string
	Driver  string
	Nodes   []buildxNode
	Dynamic bool
}

// buildxNode is buildx's store.Node as it is saved.
type buildxNode struct {
	Name           string
	Endpoint       string
	Platforms      []ocispecs.Platform
	DriverOpts     map[string]string
	BuildkitdFlags []string `json:"Flags"`
	Files          map[string][]byte
}

// buildxConfigFile is the name buildx gives --buildkitd-config in Files.
const buildxConfigFile = "buildkitd.toml"

func readOnly(name string) error {
	return fmt.Errorf("builder %q belongs to buildx, which docker-build2 only reads: change it with docker buildx", name)
}

func (s buildxStore) get(name string) (*Builder, error) {
	if !ValidName(name) {
		return nil, os.ErrNotExist
	}
	b, err := s.read(name)
	if err != nil {
		return nil, err
	}
	if b.Unusable != "" {
		return nil, errors.New(b.Unusable)
	}
	return b, nil
}

// read reads a builder, a usable one or not.
func (s buildxStore) read(name string) (*Builder, error) {
	path := filepath.Join(s.dir, "instances", name)
	dt, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ng buildxNodeGroup
	if err := json.Unmarshal(dt, &ng); err != nil {
		return nil, fmt.Errorf("buildx builder %q: %s is not valid JSON: %w", name, path, err)
	}
	return fromBuildx(name, ng), nil
}

// fromBuildx turns buildx's node group into a builder; one whose driver
// docker-build2 does not run has Unusable set.
func fromBuildx(name string, ng buildxNodeGroup) *Builder {
	b := &Builder{Name: name, Driver: ng.Driver, Buildx: true}
	switch {
	case ng.Driver != DriverRemote && ng.Driver != DriverDockerContainer:
		b.Unusable = fmt.Sprintf("builder %q uses buildx's %s driver, which docker-build2 does not run: build with docker buildx, or create one docker-build2 runs (docker build2 builder create --driver docker-container or --driver remote)", name, ng.Driver)
	case ng.Dynamic:
		b.Unusable = fmt.Sprintf("builder %q is a dynamic buildx builder, which docker-build2 does not run: build with docker buildx", name)
	}
	for _, n := range ng.Nodes {
		node := Node{
			Name: n.Name, Endpoint: n.Endpoint, Driver: b.DriverName(),
			DriverOpts: n.DriverOpts, BuildkitdFlags: n.BuildkitdFlags, BuildkitdConfig: n.Files[buildxConfigFile],
		}
		for _, p := range n.Platforms {
			node.Platforms = append(node.Platforms, platforms.Format(p))
		}
		if ng.Driver == DriverRemote {
			node.TLSCACert, node.TLSCert, node.TLSKey = n.DriverOpts["cacert"], n.DriverOpts["cert"], n.DriverOpts["key"]
			node.TLSServerName = n.DriverOpts["servername"]
		}
		b.Nodes = append(b.Nodes, node)
	}
	return b
}

// list reads every buildx builder, by name.
func (s buildxStore) list() ([]*Builder, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "instances"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Builder
	for _, e := range entries {
		if e.IsDir() || !ValidName(e.Name()) {
			continue
		}
		b, err := s.read(e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
