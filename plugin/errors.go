package plugin

import (
	"fmt"

	"github.com/docker/cli/cli"
)

// usageErr marks err as a bad flag value or combination: docker's exit
// code 125, with err kept as the cause for errors.Is/As and for main, which
// alone renders errors.
func usageErr(err error) error {
	return cli.StatusError{StatusCode: 125, Cause: err}
}

// usageErrf is usageErr of a formatted error.
func usageErrf(format string, args ...any) error {
	return usageErr(fmt.Errorf(format, args...))
}
