package build

import (
	"context"
	"fmt"
	"io"

	"github.com/docker-build2/docker-build2/build/policy"
	buildxpolicy "github.com/docker/buildx/policy"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session"
)

// Options describes one build. Package plugin fills it from flags, having
// checked every value; Run checks only what needs the builder.
type Options struct {
	// The build context is one of ContextDir (a local directory),
	// ContextTar (a tar stream, the context "-") or ContextURL (a Git
	// repository or an HTTP(S) tarball): exactly one is set.
	ContextDir string
	ContextTar io.ReadCloser
	ContextURL string
	// DockerfileDir is the local directory that holds the Dockerfile. Empty
	// means the Dockerfile is read from the context (only with ContextTar
	// or ContextURL).
	DockerfileDir string
	// DockerfileName is the Dockerfile's file name inside DockerfileDir (or
	// its path inside the context). Empty means "Dockerfile".
	DockerfileName string
	// Target is the stage to build; empty means the last one.
	Target string
	// BuildArgs are the build-time variables (--build-arg).
	BuildArgs map[string]string
	// Labels are set on the image (--label).
	Labels map[string]string
	// NoCache builds every step anew.
	NoCache bool
	// NoCacheFilter names stages that must not use the cache.
	NoCacheFilter []string
	// Pull resolves every image from its registry again.
	Pull bool
	// Platforms are the target platforms; empty means the builder's own.
	Platforms []string
	// CacheImports and CacheExports are --cache-from and --cache-to.
	CacheImports []CacheSpec
	CacheExports []CacheSpec
	// Contexts are the named build contexts, by name.
	Contexts map[string]NamedContext
	// NetworkMode is "default", "none" or "host".
	NetworkMode string
	// ExtraHosts are "host=ip" pairs added to /etc/hosts of RUN steps.
	ExtraHosts []string
	// Allow lists the entitlements the build asks for.
	Allow []string
	// ShmSize is the size of /dev/shm in RUN steps, in bytes; 0 leaves
	// BuildKit's default (64 MiB).
	ShmSize int64
	// Ulimits are the rlimits of RUN steps, one per name.
	Ulimits []Ulimit
	// CgroupParent is the cgroup under which RUN steps get theirs.
	CgroupParent string
	// Resources are the cgroup limits of each RUN step (memory, CPU).
	Resources ResourceLimits
	// Annotations are set on the image's manifests, index or their
	// descriptors by the image, registry, oci and docker outputs.
	Annotations []Annotation

	// Tags name the image; outputs that take a name get them unless they
	// name one themselves.
	Tags []string
	// Outputs are where the result goes. None means: into the Docker
	// engine when Engine is set and answers, else nowhere (the result stays
	// in the build cache, and the status says so).
	Outputs []Output
	// Stdout receives outputs whose Dest is "-".
	Stdout io.Writer
	// Engine loads docker images into the Docker engine; nil means there is
	// no engine to load into.
	Engine ImageLoader
	// IIDFile and MetadataFile, when set, receive the image ID and the
	// build's metadata (JSON, as buildx writes it) once the build succeeded.
	IIDFile      string
	MetadataFile string
	// RecordRef is the build record's reference: the metadata's
	// buildx.build.ref is BUILDER/NODE/RecordRef, as buildx writes it.
	RecordRef string
	// MetadataProvenance is how much of the provenance the builder's build
	// history records the result's metadata carries
	// (buildx.build.provenance); zero, none. It needs RecordRef, the build's
	// reference in the history.
	MetadataProvenance MetadataProvenance

	// Attests are the attestations the image carries, by type
	// (provenance, sbom): each is the frontend's "attest:TYPE" value
	// ("type=sbom,generator=IMAGE", "mode=min,inline-only=true"). BuildKit
	// attaches them to image outputs.
	Attests map[string]string
	// Git is the Git checkout of a local context, recorded in the
	// provenance; zero records none.
	Git GitInfo

	// Call, when set (a key of Calls), asks the frontend that request
	// instead of building: no output is written.
	Call string

	// Policy is the build policy configuration (--policy, a bake
	// target's policy): with none, the Dockerfile's <name>.rego beside it
	// is the policy when there is one.
	Policy []policy.Config
	// DefaultPolicy puts buildx's built-in policy before the others
	// (BUILDX_DEFAULT_POLICY), unless Policy disables policies.
	DefaultPolicy bool
	// PolicyVerifier checks image signatures for policies
	// (input.image.signatures); nil checks none.
	PolicyVerifier buildxpolicy.PolicyVerifierProvider

	// Session holds the session providers (registry auth, secrets, ssh).
	Session []session.Attachable
	// NoHistory keeps the build out of the builder's build history, which
	// would store every step's output (a secret a step prints included).
	// The embedded builder records only builds whose metadata needs it
	// (MetadataProvenance); this is for remote ones.
	NoHistory bool
}

// GitInfo is where a local context comes from in Git, as buildx records
// it (BUILDX_GIT_INFO): the frontend's vcs:source, vcs:revision and
// vcs:localdir:NAME attributes. Empty fields are left out.
type GitInfo struct {
	// Source is the remote's URL, Revision the commit (with "-dirty").
	Source   string
	Revision string
	// Root is the work tree's root: local mounts under it are named by
	// their path relative to it.
	Root string
}

// Output is one destination of the result.
type Output struct {
	// Type is local, tar, oci, docker, image, registry or cacheonly.
	Type string
	// Dest is the directory (local) or file (tar, oci, docker) written;
	// "-" is Options.Stdout. A docker output with no Dest is loaded into
	// the Docker engine.
	Dest string
	// Attrs are the exporter's other attributes (name, push, compression …).
	Attrs map[string]string
}

// CacheSpec is one --cache-from or --cache-to entry.
type CacheSpec struct {
	// Type is registry, local or inline.
	Type  string
	Attrs map[string]string
}

// Ulimit is one rlimit of RUN steps, as docker's --ulimit has it: Soft
// and Hard are -1 for unlimited.
type Ulimit struct {
	// Name is the rlimit without RLIMIT_, lower case: nofile, nproc …
	Name string
	Soft int64
	Hard int64
}

// String is the ulimit as BuildKit's Dockerfile frontend reads it,
// "name=soft:hard".
func (u Ulimit) String() string { return fmt.Sprintf("%s=%d:%d", u.Name, u.Soft, u.Hard) }

// ResourceLimits are the cgroup limits of each RUN step; a zero field is
// no limit.
type ResourceLimits struct {
	// Memory is the memory limit in bytes.
	Memory int64
	// MemorySwap is memory plus swap in bytes; -1 is unlimited swap.
	MemorySwap int64
	// CPUShares is the relative CPU weight.
	CPUShares int64
	// CPUPeriod and CPUQuota are the CFS period and quota in microseconds.
	CPUPeriod int64
	CPUQuota  int64
	// CPUSetCPUs and CPUSetMems are the CPUs and memory nodes steps may
	// use ("0-3", "0,1").
	CPUSetCPUs string
	CPUSetMems string
}

// Annotation kinds: where an Annotation goes, as BuildKit names them.
const (
	AnnotationManifest           = exptypes.AnnotationManifest
	AnnotationIndex              = exptypes.AnnotationIndex
	AnnotationManifestDescriptor = exptypes.AnnotationManifestDescriptor
	AnnotationIndexDescriptor    = exptypes.AnnotationIndexDescriptor
)

// Annotation is one OCI annotation of the image (--annotation).
type Annotation struct {
	// Type is where it goes: one of the Annotation kinds, or "" for
	// BuildKit's default (the manifests).
	Type string
	// Platform, for the manifest kinds only, limits the annotation to the
	// manifest of that platform (normalized, "linux/arm/v7"); "" is all.
	Platform string
	Key      string
	Value    string
}

// NeedsIndex reports whether a goes on an image index, which a
// single-platform image does not have.
func (a Annotation) NeedsIndex() bool {
	return a.Type == AnnotationIndex || a.Type == AnnotationIndexDescriptor
}

// ExporterKey is the exporter attribute that sets a, as buildx writes it:
// "annotation.KEY", "annotation-index.KEY",
// "annotation-manifest[linux/amd64].KEY" …
func (a Annotation) ExporterKey() string {
	prefix := "annotation"
	switch a.Type {
	case "":
	case AnnotationManifest, AnnotationManifestDescriptor:
		prefix += "-" + a.Type
		if a.Platform != "" {
			prefix += "[" + a.Platform + "]"
		}
	default:
		prefix += "-" + a.Type
	}
	return prefix + "." + a.Key
}

// ImageLoader loads docker image tarballs into the Docker engine.
type ImageLoader interface {
	// Endpoint names the engine, for messages.
	Endpoint() string
	// Available returns nil when the engine answers, else why not.
	Available(ctx context.Context) error
	// Load returns the writer the tarball goes into, and wait, which
	// returns once the engine has loaded what was written.
	Load(ctx context.Context) (w io.WriteCloser, wait func() error, err error)
	// Image returns the engine's image ref as a tarball (docker save's),
	// or ok false when the engine has no image of that name.
	Image(ctx context.Context, ref string) (r io.ReadCloser, ok bool, err error)
}

// Result is what a finished build reports.
type Result struct {
	// ExporterResponse holds exporter metadata such as
	// "containerimage.digest" and "containerimage.config.digest".
	ExporterResponse map[string]string
	// Call is the frontend's answer to Options.Call: result.json,
	// result.txt and, for a check, result.statuscode.
	Call map[string][]byte
}

// ImageID is the ID docker shows for the image built: its config digest,
// else its manifest digest; "" when the build made no image.
func (r *Result) ImageID() string {
	if id := r.ExporterResponse[exporterConfigDigest]; id != "" {
		return id
	}
	return r.ExporterResponse[exporterImageDigest]
}

// SolveStatus is BuildKit's solve status, as Run and Open report it.
type SolveStatus = client.SolveStatus
