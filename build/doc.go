// Package build is docker-build2's builder: Open opens the embedded solver,
// a remote BuildKit daemon or a named builder of several nodes, and Run
// builds Options on any of them the same way (one solve path): platform
// check, frontend fallback, outputs written only when the build succeeds,
// and a build split across nodes merged into one image index.
//
// Its sub-packages do one job each: embedded (the in-process controller),
// statedir (sharing one state dir between processes), userns (the solver of
// a user who is not root, in a user namespace), remote (connecting to a
// daemon), nodes (named builders and which node builds what) and
// imageindex (merging and pushing image indexes). They never import build.
//
// Goroutines and channels: Run sends status updates (the solver's and its
// own steps) to the channel it is given and never closes it; Open and
// Close report on Target.Status. The caller drains and closes it (package
// progress does).
//
// Imports: BuildKit, containerd, fsutil, the standard library and, of the
// project, its sub-packages and daemonconfig. It never imports plugin,
// progress, secrets, sshforward, cobra, pflag or docker/cli: session
// providers arrive as values.
package build
