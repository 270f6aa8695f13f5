package records

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// procStart returns the start time of process pid (field 22 of
// /proc/<pid>/stat, clock ticks since boot); ok is false when there is no
// such process.
func procStart(pid int) (uint64, bool) {
	dt, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command (field 2) is in parentheses and may hold spaces: count
	// the fields after its closing one.
	i := bytes.LastIndexByte(dt, ')')
	if i < 0 {
		return 0, false
	}
	fields := bytes.Fields(dt[i+1:])
	// fields[0] is field 3 (state), so field 22 is fields[19].
	if len(fields) < 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}
