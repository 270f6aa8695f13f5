// Package imagetools reads and writes images in registries without a
// solver, as buildx's imagetools does: it merges the manifests of source
// images and indexes into one index and pushes it (copying or mounting the
// blobs it needs into each target repository), and it reads an image's
// manifest, index and configurations for inspection.
//
// It reaches registries only through the RegistryHosts it is given, so it
// uses the solver's mirrors, insecure registries, certificates and
// credentials. Imports: containerd's remotes, BuildKit's content utilities,
// the OCI image spec and the standard library; no project package, no
// docker/cli.
package imagetools
