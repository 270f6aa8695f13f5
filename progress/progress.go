package progress

import (
	"fmt"
	"io"
	"strings"

	"github.com/moby/buildkit/client"
)

// Mode selects how solve status is rendered.
type Mode string

const (
	// Auto renders like TTY when the output is a terminal, else like Plain.
	Auto Mode = "auto"
	// TTY redraws a live view of the running steps.
	TTY Mode = "tty"
	// Plain prints one line per event, with step output; for logs and CI.
	Plain Mode = "plain"
	// RawJSON prints each SolveStatus as one JSON document per line.
	RawJSON Mode = "rawjson"
	// Quiet prints nothing.
	Quiet Mode = "quiet"
)

// Modes lists every valid Mode, in the order help texts show them.
var Modes = []Mode{Auto, Plain, TTY, RawJSON, Quiet}

// ParseMode validates s as a Mode. "none" is accepted as an alias of quiet,
// as buildx accepts it.
func ParseMode(s string) (Mode, error) {
	m := Mode(strings.ToLower(strings.TrimSpace(s)))
	switch m {
	case Auto, TTY, Plain, RawJSON, Quiet:
		return m, nil
	case "none":
		return Quiet, nil
	case "":
		return Auto, nil
	}
	names := make([]string, len(Modes))
	for i, m := range Modes {
		names[i] = string(m)
	}
	return "", fmt.Errorf("invalid progress mode %q: use one of %s", s, strings.Join(names, ", "))
}

// PrintWarnings prints the build warnings in the format buildx uses.
func PrintWarnings(w io.Writer, warnings []client.VertexWarning, mode Mode) {
	if len(warnings) == 0 || mode == Quiet || mode == RawJSON {
		return
	}
	s := "s"
	if len(warnings) == 1 {
		s = ""
	}
	fmt.Fprintf(w, "\n%d warning%s found:\n", len(warnings), s)
	for _, warn := range warnings {
		fmt.Fprintf(w, " - %s\n", strings.TrimSpace(string(warn.Short)))
	}
}
