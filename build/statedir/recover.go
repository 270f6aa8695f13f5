package statedir

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Recover cleans up after a docker-build2 that died holding the state
// dir (SIGKILL, power loss): its runc containers keep running and its
// mounts stay. Called with the lock held, so nothing else uses them.
func Recover(root string) {
	prefix := root + "/"
	if out, err := exec.Command("runc", "list", "--format", "json").Output(); err == nil {
		var list []struct {
			ID     string `json:"id"`
			Bundle string `json:"bundle"`
		}
		if json.Unmarshal(out, &list) == nil {
			for _, c := range list {
				if strings.HasPrefix(c.Bundle, prefix) {
					_ = exec.Command("runc", "delete", "--force", c.ID).Run()
				}
			}
		}
	}
	var mounts []string
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 4 && strings.HasPrefix(fields[4], prefix) {
				mounts = append(mounts, fields[4])
			}
		}
		_ = f.Close()
	}
	// Deepest first.
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	for _, m := range mounts {
		_ = unix.Unmount(m, unix.MNT_DETACH)
	}
}
