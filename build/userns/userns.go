// Package userns runs the embedded solver in a process of its own, in
// namespaces of its own: always a mount namespace (the solver's mounts stay
// there) and a PID namespace whose init it is (when it dies, whatever
// killed it, the kernel kills every RUN step with it), and for a user who
// is not root a user namespace, the way rootless BuildKit runs under
// RootlessKit, with the user's /etc/subuid and /etc/subgid ranges mapped
// by newuidmap and newgidmap. Start executes this binary again; Run (from
// main) is that process's side: it serves the solver on the state dir's
// socket, and the user's own process attaches to it as a client, so the
// session (context, secrets, ssh) and every output file stay on the user's
// side with the user's own identity. The process has SIGKILL as its
// parent-death signal: it does not outlive the process that started it.
//
// The process goes through up to three stages, told apart by stageEnv: in
// a user namespace, "map" waits on fd 3 until its ID maps are written,
// then executes itself again as "serve", which gains the capabilities of
// the namespace's root (as root, it starts as "serve"); "serve" runs the
// solver until fd 3 reaches EOF (the parent is done) and reports on fd 4.
// "proc" is a probe run by "serve".
//
// It is the one package that reads and writes the re-exec environment and
// writes to the process's stderr (the namespace's process has no other
// output). Imports: moby/sys, x/sys/unix and the standard library; no
// project package.
package userns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/sys/user"
	"github.com/moby/sys/userns"
)

const (
	stageEnv  = "_DOCKER_BUILD2_USERNS"
	configEnv = "_DOCKER_BUILD2_USERNS_CONFIG"
)

// Rootless reports whether the solver must run in a user namespace, as it
// does for any user but root.
func Rootless() bool { return os.Geteuid() != 0 }

// InForeignUserNS reports whether this process is root of a user namespace
// it did not make (a rootless container): the host's root it is not, so
// RUN steps need rootless runc too.
func InForeignUserNS() bool { return os.Geteuid() == 0 && userns.RunningInUserNS() }

// InUserNS reports whether this process runs in a user namespace other
// than the host's: RUN steps then need rootless runc.
func InUserNS() bool { return userns.RunningInUserNS() }

// IsChild reports whether this process is the namespace's process that
// Start started. main must then return Run's code at once.
func IsChild() bool { return os.Getenv(stageEnv) != "" }

// IDMaps are newuidmap's and newgidmap's arguments after the PID.
type IDMaps struct{ uid, gid []string }

// Check checks what running the solver without root needs:
// newuidmap and newgidmap, subordinate ID ranges for the user, and user
// namespaces enabled; it returns the ID maps.
func Check() (IDMaps, error) {
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(tool); err != nil {
			return IDMaps{}, fmt.Errorf("%s is not installed or not on PATH: without root, the builder runs in a user namespace whose IDs newuidmap and newgidmap map from /etc/subuid and /etc/subgid; install them (Debian/Ubuntu: apt-get install uidmap)", tool)
		}
	}
	uid, gid := os.Getuid(), os.Getgid()
	name := strconv.Itoa(uid)
	if u, err := user.LookupUid(uid); err == nil {
		name = u.Name
	}
	var maps IDMaps
	var err error
	if maps.uid, err = idMapArgs("/etc/subuid", uid, name); err != nil {
		return IDMaps{}, err
	}
	if maps.gid, err = idMapArgs("/etc/subgid", gid, name); err != nil {
		return IDMaps{}, err
	}
	return maps, userNSEnabled()
}

// idMapArgs maps namespace ID 0 to id and the IDs from 1 on to the ranges
// path gives the user called name (or numbered id).
func idMapArgs(path string, id int, name string) ([]string, error) {
	ids := strconv.Itoa(id)
	ranges, err := user.ParseSubIDFileFilter(path, func(s user.SubID) bool {
		return s.Name == name || s.Name == ids
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(ranges) == 0 {
		return nil, fmt.Errorf("%s has no range for user %s: without root, the builder maps a range of subordinate IDs into its user namespace; add one that no other user has, as root, e.g.: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s", path, name, name)
	}
	args := []string{"0", ids, "1"}
	next := int64(1)
	for _, r := range ranges {
		if r.SubID <= 0 || r.Count <= 0 { // also what a garbled line parses to
			return nil, fmt.Errorf("%s: invalid range %d:%d for user %s", path, r.SubID, r.Count, name)
		}
		args = append(args, strconv.FormatInt(next, 10), strconv.FormatInt(r.SubID, 10), strconv.FormatInt(r.Count, 10))
		next += r.Count
	}
	return args, nil
}

// userNSEnabled reads the sysctls that turn unprivileged user namespaces off.
func userNSEnabled() error {
	if v, ok := readSysctl("/proc/sys/user/max_user_namespaces"); ok && v == 0 {
		return errors.New("user namespaces are disabled (sysctl user.max_user_namespaces is 0): without root, the builder runs in a user namespace; enable them as root: sysctl -w user.max_user_namespaces=28633")
	}
	if v, ok := readSysctl("/proc/sys/kernel/unprivileged_userns_clone"); ok && v == 0 {
		return errors.New("unprivileged user namespaces are disabled (sysctl kernel.unprivileged_userns_clone is 0): without root, the builder runs in a user namespace; enable them as root: sysctl -w kernel.unprivileged_userns_clone=1")
	}
	return nil
}

func readSysctl(path string) (int64, bool) {
	dt, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(dt)), 10, 64)
	return v, err == nil
}

// cloneError explains why a user namespace could not be created.
func cloneError(err error) error {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("cannot create a user namespace for the builder (%w): user.max_user_namespaces is 0 or used up here; raise it as root: sysctl -w user.max_user_namespaces=28633", err)
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return fmt.Errorf("cannot create a user namespace for the builder (%w): something forbids unprivileged user namespaces here: in a container, a seccomp or AppArmor profile (run it with --security-opt seccomp=unconfined --security-opt apparmor=unconfined); on Ubuntu, sysctl kernel.apparmor_restrict_unprivileged_userns=1", err)
	}
	return fmt.Errorf("cannot create a user namespace for the builder: %w", err)
}
