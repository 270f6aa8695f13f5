// Package secrets parses --secret specs and serves them to a build session.
//
// A Spec round-trips through text (UnmarshalText / String) with buildx's
// keys: id, src|source, env and type=file|env; "id=NAME" alone means the
// environment variable NAME when it is set, else the file NAME. Specs are
// validated when parsed (missing file, unset variable, size over BuildKit's
// limit, duplicate ids); file contents are read only when a build step asks
// for them, and no value ever appears in an error message.
//
// Imports: the standard library, BuildKit's session packages and go-csvvalue.
package secrets
