// Package policy applies build policies, written in Rego, to a build's
// inputs the way docker buildx does: Load finds the policy files of a build
// (<Dockerfile>.rego beside the Dockerfile, and the files of each Config),
// and Attach turns them into BuildKit's source-policy session, through
// which the solver asks about every source (image, Git, HTTP, local)
// before it uses it. Evaluation is buildx's own (github.com/docker/buildx/
// policy), so the input, the decision and the built-in functions are
// buildx's.
//
// A build from a local directory without policy files costs one stat:
// Load returns no Set, and no session, resolver or Rego engine is made. A
// build from a remote context (Git, HTTP tarball) looks for its policy in
// it, through the builder, which fetches the context it builds anyway.
//
// Imports: buildx's policy and sourcemeta packages, BuildKit and the
// standard library; no package of the module.
package policy
