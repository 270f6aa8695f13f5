// Package daemonconfig reads Docker's daemon.json into the settings the
// embedded builder applies: features.buildkit, builder.gc,
// builder.entitlements, builder.history (the limits of the build records),
// registry-mirrors and insecure-registries.
//
// Keys dockerd knows but the builder does not use are ignored, since a real
// daemon.json is full of them. A known key with a wrong type is an error
// naming the key path; malformed JSON is an error naming file:line:column.
//
// Imports: BuildKit's buildkitd configuration types (the GC values it
// parses into) and the standard library; no project package.
package daemonconfig
