package userns

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIDMapArgs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "subuid")
	require.NoError(t, os.WriteFile(file, []byte("other:100000:65536\n# comment\ndev:165536:65536\n1001:300000:10\ndev:400000:5\n"), 0o644))

	args, err := idMapArgs(file, 1001, "dev")
	require.NoError(t, err)
	// 0 is the user itself; the ranges follow from 1, in file order, by
	// name or by number.
	assert.Equal(t, []string{"0", "1001", "1", "1", "165536", "65536", "65537", "300000", "10", "65547", "400000", "5"}, args)

	_, err = idMapArgs(file, 1002, "nobody-here")
	require.Error(t, err)
	assert.Equal(t, file+" has no range for user nobody-here: without root, the builder maps a range of subordinate IDs into its user namespace; add one that no other user has, as root, e.g.: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 nobody-here", err.Error())

	_, err = idMapArgs(filepath.Join(dir, "missing"), 1001, "dev")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "has no range for user dev")

	bad := filepath.Join(dir, "bad")
	require.NoError(t, os.WriteFile(bad, []byte("dev:100000:0\n"), 0o644))
	_, err = idMapArgs(bad, 1001, "dev")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "invalid range 100000:0 for user dev")

	garbled := filepath.Join(dir, "garbled")
	require.NoError(t, os.WriteFile(garbled, []byte("dev:abc:10\n"), 0o644))
	_, err = idMapArgs(garbled, 1001, "dev")
	require.Error(t, err)
	assert.Contains(t, err.Error(), garbled+": invalid range 0:10 for user dev")
}

func TestCloneError(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want string
	}{
		{&os.SyscallError{Syscall: "clone", Err: syscall.ENOSPC}, "user.max_user_namespaces is 0 or used up"},
		{&os.SyscallError{Syscall: "clone", Err: syscall.EPERM}, "--security-opt seccomp=unconfined"},
	} {
		assert.Contains(t, cloneError(c.err).Error(), c.want)
	}
}
