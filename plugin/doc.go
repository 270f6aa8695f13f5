// Package plugin is the command tree of docker-build2: one file per cobra
// command (build, builder, prune, du, install, version, completion), flags
// parsed into typed values (package buildflags) and validated before any
// I/O, and the composition of one build.Options and build.Target per build.
// It runs no engine logic: building, named builders and outputs are package
// build's.
//
// Errors are returned, never printed: a bad flag value is a
// cli.StatusError with code 125 and the error as its cause, a signal gives
// 128+n, and main renders them. Commands take command.Cli, so they run in
// tests against a fake CLI (internal/clitest).
//
// It is the only package that imports cobra, pflag or docker/cli, and the
// only one that reads environment variables (as flag defaults, each named in
// its flag's help; DOCKER_BUILDKIT, which docker reads too).
//
// Imports: build, build/nodes (the named-builder store), progress, secrets,
// sshforward, daemonconfig, docker/cli, cobra and BuildKit's session
// providers.
package plugin
