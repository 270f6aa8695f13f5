// Package build owns the embedded BuildKit solver and turns Options into a
// solve.
//
// New starts a BuildKit controller (OCI runc worker, dockerfile.v0 through
// the gateway forwarder, gateway.v0, bolt cache and history databases) on a
// locked state directory and serves it on an in-memory gRPC listener; the
// BuildKit client talks to it exactly as it talks to a remote buildkitd, so
// both share Build.
//
// Goroutines and channels: Build sends status updates to the channel it is
// given and closes it when the solve ends, whatever the outcome; the caller
// drains it (package progress does). Close stops the controller and releases
// the lock.
//
// Imports: BuildKit, fsutil, flock and the standard library. It never
// imports plugin, progress, cobra, pflag or docker/cli.
package build
