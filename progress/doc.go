// Package progress renders BuildKit solve status in the modes docker users
// know: auto, tty, plain, rawjson and quiet, on top of BuildKit's
// progressui. A Printer owns one command's display: everything sent on its
// Status channel (the solver's steps and the builder's own) is drawn until
// Wait, which returns the build warnings, each once. A Masker replaces a
// build's secret values in its status before it is drawn or recorded, and
// a Summary tells in a few lines, after the build, what it did.
//
// Imports: BuildKit's client and progressui, containerd/console and the
// standard library; never package build.
package progress
