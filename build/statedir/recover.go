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

// Recover cleans up after a docker-build2 that died holding the state dir
// (SIGKILL, power loss): the runc state of its RUN steps' containers (which
// may still run, where the solver had no PID namespace of its own), their
// bundles, and its mounts. Called with the lock held, so nothing else uses
// them.
func Recover(root string) {
	prefix := root + "/"
	// Containers runc lists whose bundle is in the state dir, and every
	// bundle left in the executor's directories: runc writes a container's
	// state only after it made its directory, so one killed in between is
	// not listed, but its bundle, named by its ID, is there.
	ids := map[string]bool{}
	for _, c := range runcList() {
		if strings.HasPrefix(c.Bundle, prefix) {
			ids[c.ID] = true
		}
	}
	bundles, _ := filepath.Glob(filepath.Join(root, "runc-*", "executor", "*", "config.json"))
	for _, b := range bundles {
		ids[filepath.Base(filepath.Dir(b))] = true
	}
	for id := range ids {
		_ = exec.Command("runc", "delete", "--force", id).Run()
	}
	unmountUnder(prefix)
	for _, b := range bundles {
		if dir := filepath.Dir(b); len(mountsUnder(dir+"/")) == 0 {
			_ = os.RemoveAll(dir)
		}
	}
}

type runcContainer struct {
	ID     string `json:"id"`
	Bundle string `json:"bundle"`
}

// runcList lists the containers of runc's default root (the one the
// solver's runc uses: /run/runc as root, $XDG_RUNTIME_DIR/runc otherwise).
func runcList() []runcContainer {
	out, err := exec.Command("runc", "list", "--format", "json").Output()
	if err != nil {
		return nil
	}
	var list []runcContainer
	_ = json.Unmarshal(out, &list)
	return list
}

// unmountUnder unmounts every mount below prefix, deepest first.
func unmountUnder(prefix string) {
	mounts := mountsUnder(prefix)
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	for _, m := range mounts {
		_ = unix.Unmount(m, unix.MNT_DETACH)
	}
}

// mountsUnder lists this mount namespace's mount points below prefix.
func mountsUnder(prefix string) []string {
	var mounts []string
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], prefix) {
			mounts = append(mounts, fields[4])
		}
	}
	return mounts
}
