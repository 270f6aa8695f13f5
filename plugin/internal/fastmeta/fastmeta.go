// Package fastmeta answers the docker CLI's "docker-cli-plugin-metadata"
// call, which the CLI makes of every plugin each time it lists them (every
// docker command that shows help or resolves a plugin), from its package
// initialization: before the packages the rest of docker-build2 needs
// initialize (compose-go's JSON schemas, sigstore's regular expressions,
// OPA's built-ins: some 20 ms of work the call does not need).
//
// Go initializes packages one at a time, each time the first one by import
// path among those whose imports are initialized. This one imports os
// alone, which those heavy packages' imports (regexp, encoding/json, …)
// come after; it is initialized as soon as os is, and exits there when
// the process was started for the metadata alone.
package fastmeta

import "os"

// Version is docker-build2's version, stamped at build time with
// -ldflags "-X github.com/docker-build2/docker-build2/plugin/internal/fastmeta.Version=…"
// (hack/build); plugin.Version is this.
var Version = "v0.1.0-dev"

// The metadata's fixed fields; package plugin's Metadata has the same.
const (
	SchemaVersion    = "0.1.0"
	Vendor           = "docker-build2"
	ShortDescription = "Build images with an embedded BuildKit (no daemon needed)"
	URL              = "https://github.com/docker-build2/docker-build2"
)

func init() {
	if len(os.Args) == 2 && os.Args[1] == "docker-cli-plugin-metadata" {
		_, err := os.Stdout.Write(JSON(Version))
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// JSON is the metadata of version as docker/cli's plugin package writes
// it (an indented JSON object, fields in order, a newline at the end).
func JSON(version string) []byte {
	out := []byte("{\n")
	for i, f := range [][2]string{
		{"SchemaVersion", SchemaVersion},
		{"Vendor", Vendor},
		{"Version", version},
		{"ShortDescription", ShortDescription},
		{"URL", URL},
	} {
		if i > 0 {
			out = append(out, ",\n"...)
		}
		out = append(out, "     "...)
		out = appendString(append(appendString(out, f[0]), ": "...), f[1])
	}
	return append(out, "\n}\n"...)
}

// appendString appends s as a JSON string, escaped as encoding/json
// escapes it without HTML escaping.
func appendString(out []byte, s string) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		case c == '\n':
			out = append(out, '\\', 'n')
		case c == '\r':
			out = append(out, '\\', 'r')
		case c == '\t':
			out = append(out, '\\', 't')
		case c < 0x20:
			out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			out = append(out, c)
		}
	}
	return append(out, '"')
}
