package build

import (
	"fmt"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	contentlocal "github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/moby/buildkit/client/ociindex"
	"github.com/opencontainers/go-digest"
	"github.com/tonistiigi/fsutil"
)

// The kinds of named build context.
const (
	ContextLocal     = "local"      // a local directory
	ContextImage     = "image"      // docker-image://REF
	ContextOCILayout = "oci-layout" // a local directory holding an OCI layout
	ContextURL       = "url"        // a Git repository or an HTTP(S) tarball
)

// NamedContext is a named build context (--build-context NAME=…): what a
// FROM, COPY --from or RUN --mount=from of that name uses instead.
type NamedContext struct {
	// Kind is one of ContextLocal, ContextImage, ContextOCILayout and
	// ContextURL.
	Kind string
	// Value is the directory, the image reference or the URL.
	Value string
	// Ref is, for an OCI layout, the tag (empty means latest) or the
	// digest (sha256:…) of the image in it.
	Ref string
}

// namedContexts adds opts.Contexts to a solve: local directories as
// mounts (watched while they are sent, as the context is), OCI layouts as
// content stores of the session, and each one's frontend attribute.
func namedContexts(opts Options, attrs map[string]string, mounts map[string]fsutil.FS, fail func(error)) (map[string]content.Store, error) {
	var stores map[string]content.Store
	for name, c := range opts.Contexts {
		key := "context:" + name
		switch c.Kind {
		case ContextLocal:
			fs, err := fsutil.NewFS(c.Value)
			if err != nil {
				return nil, fmt.Errorf("build context %s=%q: %w", name, c.Value, err)
			}
			mounts[name] = newGuardFS(fs, c.Value, "context "+name, fail)
			attrs[key] = "local:" + name
		case ContextImage:
			attrs[key] = "docker-image://" + c.Value
		case ContextURL:
			attrs[key] = c.Value
		case ContextOCILayout:
			id, dgst, store, err := ociLayout(c)
			if err != nil {
				return nil, fmt.Errorf("build context %s=oci-layout://%s: %w", name, c.Value, err)
			}
			if stores == nil {
				stores = map[string]content.Store{}
			}
			stores[id] = store
			attrs[key] = "oci-layout://" + id + "@" + dgst.String()
		default:
			return nil, fmt.Errorf("build context %s: unknown kind %q", name, c.Kind)
		}
	}
	return stores, nil
}

// ociLayout opens an OCI layout as a content store and finds the image's
// digest: the one given, or that of the tag in its index.json.
func ociLayout(c NamedContext) (string, digest.Digest, content.Store, error) {
	dgst := digest.Digest(c.Ref)
	if !strings.HasPrefix(c.Ref, "sha256:") {
		tag := c.Ref
		if tag == "" {
			tag = "latest"
		}
		idx := ociindex.NewStoreIndex(c.Value)
		desc, err := idx.Get(tag)
		if err != nil {
			return "", "", nil, fmt.Errorf("reading its index.json: %w", err)
		}
		if desc == nil && c.Ref == "" {
			desc, err = idx.GetSingle()
		}
		if err != nil || desc == nil {
			return "", "", nil, fmt.Errorf("no image tagged %q in its index.json", tag)
		}
		dgst = desc.Digest
	}
	if err := dgst.Validate(); err != nil {
		return "", "", nil, fmt.Errorf("digest %q: %w", c.Ref, err)
	}
	store, err := contentlocal.NewStore(c.Value)
	if err != nil {
		return "", "", nil, err
	}
	// The store's ID is read as an image name: lower-case hex does.
	return "oci-" + digest.FromString(c.Value).Encoded()[:16], dgst, store, nil
}
