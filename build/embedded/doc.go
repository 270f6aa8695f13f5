// Package embedded is the in-process BuildKit solver: a controller wired
// the way cmd/buildkitd wires it (session manager, OCI runc worker,
// dockerfile.v0 through the gateway forwarder, gateway.v0, bolt cache and
// history databases, registry, local and inline caches), served on an
// in-memory gRPC listener and reached with BuildKit's client, exactly as a
// remote buildkitd is.
//
// Open gives a Solver in one of three modes: it owns the state dir (holds
// its lock and runs the controller, serving it to other processes too), it
// is attached to another process's controller, or, for a user who is not
// root, it is the client of a controller it started in a user namespace.
// Solve starts a build again by itself when the process it was attached to
// exits before the build started.
//
// daemon.json is applied as dockerd's builder applies it: builder.gc,
// builder.entitlements, registry-mirrors, insecure-registries, and docker's
// certs.d layout for registry certificates (RegistryHosts, which other
// registry clients of docker-build2 use too).
//
// The image, OCI and Docker exporters compress new gzip layers on every
// CPU (klauspost/pgzip, gzip.go) before BuildKit's exporter, which would
// compress them with compress/gzip on one, finds them compressed.
//
// Imports: BuildKit, containerd, flock, pgzip, the standard library and, of the
// project, daemonconfig, build/statedir, build/userns and build/remote (to
// list platforms); never build.
package embedded
