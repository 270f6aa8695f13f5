package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestErrors: bad input gets a clear message naming the thing at fault,
// docker's exit codes (125 for usage) and never a crash.
func TestErrors(t *testing.T) {
	requireE2E(t)
	good := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nENV A=1\n"})
	syntax := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nFROMX nothing\n"})
	failing := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo boom && exit 3\n")})
	missingFile := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY nothere.txt /\n"})
	noDockerfile := t.TempDir()
	missingStage := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY --from=nostage /x /\n"})
	emptyDockerfile := writeFiles(t, map[string]string{"Dockerfile": "# only a comment\n"})
	loop := t.TempDir()
	if err := os.Symlink("b", filepath.Join(loop, "a")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a", filepath.Join(loop, "b")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(loop, "Dockerfile"), []byte("FROM scratch\nCOPY a /\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	aDir := t.TempDir()
	badDaemon := filepath.Join(t.TempDir(), "daemon.json")
	if err := os.WriteFile(badDaemon, []byte("{\"registry-mirrors\": \"x\"}"), 0o644); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(good, "Dockerfile")
	readonly := t.TempDir()
	if err := os.Chmod(readonly, 0o555); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"unknown flag", []string{"--bogus", good}, 125, []string{"unknown flag: --bogus"}},
		{"no context", []string{}, 1, []string{"requires 1 argument"}},
		{"missing context", []string{"/nonexistent/ctx"}, 1, []string{`path "/nonexistent/ctx" not found`}},
		{"context is a file", []string{notDir}, 1, []string{notDir, "is not a directory"}},
		{"missing -f", []string{"-f", "/nonexistent/Dockerfile.x", good}, 125, []string{`Dockerfile "/nonexistent/Dockerfile.x"`, "not found"}},
		{"no Dockerfile in context", []string{noDockerfile}, 1, []string{"no Dockerfile in", "-f/--file"}},
		{"syntax error", []string{syntax}, 1, []string{"Dockerfile:2", ">>> FROMX nothing", "unknown instruction: FROMX"}},
		{"COPY missing file", []string{missingFile}, 1, []string{`"/nothere.txt": not found`, "Dockerfile:2"}},
		{"failing RUN", []string{"--progress=plain", failing}, 1, []string{"boom", "exit code: 3", "ERROR:", "Dockerfile:2"}},
		{"bad output type", []string{"-o", "type=bogus", good}, 125, []string{"--output", `unknown type "bogus"`}},
		{"output without dest", []string{"-o", "type=oci,tar=false", good}, 125, []string{"--output", "type=oci needs dest=PATH"}},
		{"output dir missing", []string{"-o", "type=tar,dest=/nonexistent/dir/x.tar", good}, 125, []string{"/nonexistent/dir", "does not exist"}},
		{"build-arg empty name", []string{"--build-arg", "=x", good}, 125, []string{"--build-arg", `"=x"`}},
		{"bad tag", []string{"-t", "Bad:Tag", good}, 125, []string{"--tag", `"Bad:Tag"`}},
		{"bad progress", []string{"--progress", "fancy", good}, 125, []string{"--progress", `"fancy"`}},
		{"bad network", []string{"--network", "bridge0", good}, 125, []string{"--network", `"bridge0"`}},
		{"bad add-host", []string{"--add-host", "nohost", good}, 125, []string{"--add-host", `"nohost"`}},
		{"bad platform", []string{"--platform", "windows/amd64", good}, 1, []string{"windows/amd64", "Linux containers only"}},
		{"unknown platform", []string{"--platform", "linux/nonsense", good}, 1, []string{"linux/nonsense", "qemu-user-static"}},
		{"iidfile dir missing", []string{"--iidfile", "/nonexistent/dir/id", good}, 125, []string{"--iidfile", "/nonexistent/dir"}},
		{"iidfile not writable", []string{"--iidfile", filepath.Join(readonly, "sub", "id"), good}, 125, []string{"--iidfile", "does not exist"}},
		{"bake without a definition", []string{"bake"}, 1, []string{"no bake definition found", "docker-bake.hcl"}},
		{"tty progress without terminal", []string{"--progress=tty", good}, 125, []string{"--progress=tty needs a terminal"}},
		{"output field without value", []string{"-o", "type=local,dest", good}, 125, []string{"--output", `"dest" is not of the form key=value`}},
		{"output type missing", []string{"-o", "dest=out", good}, 125, []string{"--output", "type is missing"}},
		{"output image without name", []string{"-o", "type=image,push=true", good}, 125, []string{"type=image,push=true needs name=REF or -t/--tag"}},
		{"output registry without name", []string{"-o", "type=registry", good}, 125, []string{"type=registry needs name=REF"}},
		{"two outputs to stdout", []string{"-o", "-", "-o", "type=oci,dest=-", good}, 125, []string{"only one output can go to stdout"}},
		{"tar dest is a directory", []string{"-o", "type=tar,dest=" + aDir, good}, 125, []string{aDir, "is a directory"}},
		{"cache-from bad type", []string{"--cache-from", "type=s4,ref=x", good}, 125, []string{"--cache-from", `unknown cache type "s4"`}},
		{"cache-to type missing", []string{"--cache-to", "mode=max", good}, 125, []string{"--cache-to", `unknown cache type ""`}},
		{"cache-to field without value", []string{"--cache-to", "type=local,dest", good}, 125, []string{"--cache-to", "key=value"}},
		{"secret unknown key", []string{"--secret", "id=a,foo=b", good}, 125, []string{"--secret id=a", `unknown key "foo"`}},
		{"ssh empty id", []string{"--ssh", "=/x", good}, 125, []string{"--ssh", "the id before"}},
		{"bad platform syntax", []string{"--platform", "linux/amd64/v3/extra", good}, 125, []string{"--platform", "linux/amd64/v3/extra"}},
		{"add-host not an IP", []string{"--add-host", "db:not-an-ip", good}, 125, []string{"--add-host", `"not-an-ip" is not an IP address`}},
		{"label empty name", []string{"--label", "=x", good}, 125, []string{"--label", `"=x"`}},
		{"build-arg whitespace", []string{"--build-arg", "A B=1", good}, 125, []string{"--build-arg", "whitespace"}},
		{"-f is a directory", []string{"-f", aDir, good}, 125, []string{aDir, "is a directory, not a file"}},
		{"iidfile is a directory", []string{"--iidfile", aDir, good}, 125, []string{"--iidfile", "is a directory"}},
		{"metadata-file dir missing", []string{"--metadata-file", "/nonexistent/m.json", good}, 125, []string{"--metadata-file", "/nonexistent"}},
		{"missing stage", []string{missingStage}, 1, []string{"nostage"}},
		{"target not found", []string{"--target", "nostage", good}, 1, []string{`target stage "nostage" could not be found`}},
		{"empty Dockerfile", []string{emptyDockerfile}, 1, []string{"file with no instructions"}},
		{"symlink loop in context", []string{loop}, 1, []string{"too many links", "loop of symlinks: a -> b, b -> a", ".dockerignore"}},
		{"daemon.json wrong type", []string{"--daemon-config", badDaemon, good}, 1, []string{badDaemon, `key "registry-mirrors"`}},
		{"network not supported", []string{"--network", "container:x", good}, 125, []string{"--network", "default, none or host"}},
	}
	t.Run("stdin Dockerfile empty", func(t *testing.T) {
		r := docker(t, []string{"build2", "-f", "-", good}, withStdin(""))
		assert.Equal(t, 125, r.code, r.String())
		assert.Contains(t, r.stderr, "Dockerfile read from stdin is empty")
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := build2(t, tc.args...)
			assert.Equal(t, tc.code, r.code, r.String())
			for _, w := range tc.want {
				assert.Contains(t, r.stderr, w, r.String())
			}
			noCrash(t, r)
		})
	}
}
