package plugin

import "github.com/docker-build2/docker-build2/build"

// RunChild runs this process as the embedded solver's process in a user
// namespace when docker-build2 started it so (for a user who is not root):
// ok is false otherwise, and main goes on.
func RunChild() (code int, ok bool) { return build.RunChild() }
