// Package records keeps the client-side build history of docker-build2:
// one record per build, under <state root>/records/, with the build's
// status stream stored beside it so that "docker build2 history logs" can
// replay it.
//
// BuildKit's own history is off in the embedded solver: it would keep what
// the steps print, secrets included. The status a Writer stores is the one
// the caller gives it, already masked.
//
// # Use
//
//	st, err := records.Open(root, records.Limits{})
//	w, err := st.Start(records.Record{Name: "app", LocalDir: wd, ...})
//	for ss := range status { w.Add(ss); ... }
//	err = w.Finish(buildErr, func(r *records.Record) { r.Outputs = ... })
//
// # Files
//
// Each record is two files of its own: <ref>.json, the Record, replaced
// whole (a temporary file renamed over it) at Start and at Finish, and
// <ref>.log, the statuses as JSON lines (what --progress=rawjson prints),
// appended to while the build runs. Several processes may build on one
// state dir at once: no file is shared between two builds, and a reader
// never sees a half-written record. A record still marked running whose
// process is gone (its PID is free or now another process's) reads as
// crashed. A file that does not parse is skipped, and reported through
// Store.Warn, not failed on.
//
// Imports: BuildKit's client types and the standard library; no package
// of the module.
package records
