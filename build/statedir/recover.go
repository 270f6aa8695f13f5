package statedir

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Recover cleans up after a docker-build2 that died holding the state
// dir (SIGKILL, power loss): its runc containers keep running and its
// mounts stay. Called with the lock held, so nothing else uses them.
func Recover(root string) {
	prefix := root + "/"
	// The solver's runc keeps its state under <root>/runc-<snapshotter>/executor;
	// the default runc root holds containers of older versions.
	runcRoots, _ := filepath.Glob(filepath.Join(root, "runc-*", "executor"))
	for _, rr := range append([]string{""}, runcRoots...) {
		args := []string{"list", "--format", "json"}
		if rr != "" {
			args = append([]string{"--root", rr}, args...)
		}
		out, err := exec.Command("runc", args...).Output()
		if err != nil {
			continue
		}
		var list []struct {
			ID     string `json:"id"`
			Bundle string `json:"bundle"`
		}
		if json.Unmarshal(out, &list) != nil {
			continue
		}
		for _, c := range list {
			if rr != "" || strings.HasPrefix(c.Bundle, prefix) {
				del := []string{"delete", "--force", c.ID}
				if rr != "" {
					del = append([]string{"--root", rr}, del...)
				}
				_ = exec.Command("runc", del...).Run()
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
