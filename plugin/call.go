package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/docker-build2/docker-build2/plugin/buildflags"
	"github.com/docker/cli/cli"
	"github.com/moby/buildkit/frontend/subrequests/lint"
)

// printCall prints the frontend's answer to --call, as buildx does: the
// text (or JSON) the frontend gives, and for a check its summary; a check
// that found something fails (exit 1) unless ignorestatus=true.
func printCall(w io.Writer, c buildflags.Call, meta map[string][]byte) error {
	if c.Format == "json" {
		if dt, ok := meta["result.json"]; ok {
			fmt.Fprintln(w, strings.TrimSpace(string(dt)))
		}
	} else if dt, ok := meta["result.txt"]; ok && c.Name != "check" {
		_, _ = w.Write(dt)
	}
	if c.Name != "check" {
		return nil
	}
	var results lint.LintResults
	if dt, ok := meta["result.json"]; ok {
		if err := json.Unmarshal(dt, &results); err != nil {
			return fmt.Errorf("reading the check's result: %w", err)
		}
	}
	if c.Format != "json" {
		printCheck(w, &results)
	}
	if failed := len(results.Warnings) > 0 || results.Error != nil; failed && !c.IgnoreStatus {
		return cli.StatusError{StatusCode: 1}
	}
	return nil
}

// printCheck prints a check's violations and its summary line.
func printCheck(w io.Writer, results *lint.LintResults) {
	if results.Error != nil {
		results.PrintErrorTo(w, nil)
	}
	if err := results.PrintTo(w, nil); err != nil {
		fmt.Fprintf(w, "%v\n", err)
	}
	switch n := len(results.Warnings); {
	case n == 0 && results.Error == nil:
		fmt.Fprintln(w, "Check complete, no warnings found.")
	case n == 1:
		fmt.Fprintln(w, "Check complete, 1 warning has been found!")
	case n > 1:
		fmt.Fprintf(w, "Check complete, %d warnings have been found!\n", n)
	}
}
