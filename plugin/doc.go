// Package plugin is the command tree of docker-build2: cobra commands,
// flags parsed into typed values and validated before any I/O, and the
// composition of build.Options.
//
// It is the only package that imports cobra, pflag or docker/cli, and the
// only one that reads environment variables (as flag defaults, each named in
// its flag's help).
package plugin
