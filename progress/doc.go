// Package progress renders BuildKit solve status in the modes docker users
// know: auto, tty, plain, rawjson and quiet, on top of BuildKit's progressui.
//
// Imports: BuildKit's client and progressui, containerd/console and the
// standard library; never package build.
package progress
