package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/console"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The secret example of Docker's documentation, with the step printing
// the value: whole, in two writes 300 ms apart (two log chunks), and a
// multi-line value.
const (
	secretValue     = "WARMACHINEROX-a1b2c3"
	multiLineSecret = "-----BEGIN KEY-----\nc2VjcmV0LWxpbmUtb25l\nc2VjcmV0LWxpbmUtdHdv\n-----END KEY-----"
	maskDockerfile  = "FROM {{BASE}}\n" +
		"RUN --mount=type=secret,id=mysecret cat /run/secrets/mysecret; echo\n" +
		"RUN --mount=type=secret,id=mysecret sh -c 'v=$(cat /run/secrets/mysecret); printf \"%s\" \"${v%???????}\"; sleep 0.3; printf \"%s\\n\" \"${v#${v%???????}}\"'\n" +
		"RUN --mount=type=secret,id=key cat /run/secrets/key\n"
)

func secretProject(t *testing.T) (dir string, args []string) {
	t.Helper()
	dir = writeFiles(t, map[string]string{"Dockerfile": dockerfile(maskDockerfile)})
	// Outside the context, which is sent to the builder's cache.
	secrets := writeFiles(t, map[string]string{"mysecret": secretValue, "key.pem": multiLineSecret})
	return dir, []string{"--no-cache", "--secret", "id=mysecret,src=" + filepath.Join(secrets, "mysecret"), "--secret", "id=key,src=" + filepath.Join(secrets, "key.pem"), dir}
}

// assertMasked checks that out shows *** where the step printed a value,
// and no byte sequence of any value.
func assertMasked(t *testing.T, mode, out string) {
	t.Helper()
	assert.NotContains(t, out, secretValue, mode)
	assert.NotContains(t, out, secretValue[:len(secretValue)-7], "%s: the first write of the split value", mode)
	for _, line := range strings.Split(multiLineSecret, "\n") {
		assert.NotContains(t, out, line, "%s: a line of the multi-line value", mode)
	}
	assert.Contains(t, out, "***", mode)
}

// TestSecretsMaskedInOutput: every --secret value a RUN step prints is
// *** in plain, rawjson and tty output (under a real terminal), with a
// notice saying so; DOCKER_BUILD2_SHOW_SECRETS=1 shows them live.
func TestSecretsMaskedInOutput(t *testing.T) {
	requireE2E(t)
	_, args := secretProject(t)
	for _, mode := range []string{"plain", "rawjson"} {
		r := mustSucceed(t, docker(t, append([]string{"build2", "--progress=" + mode}, args...)))
		noCrash(t, r)
		out := r.stderr
		if mode == "rawjson" {
			out += rawjsonLogs(t, r.stderr)
		}
		assertMasked(t, mode, out)
		if mode == "plain" {
			assert.Contains(t, r.stderr, "DOCKER_BUILD2_SHOW_SECRETS=1", "the notice names the way to show them")
		}
	}

	// tty: the live view under a pseudo-terminal.
	pty, slave, err := console.NewPty()
	require.NoError(t, err)
	defer func() { _ = pty.Close() }()
	f, err := os.OpenFile(slave, os.O_RDWR, 0)
	require.NoError(t, err)
	cmd := exec.Command(world.docker, append([]string{"build2", "--progress=tty"}, args...)...)
	cmd.Env = append(baseEnv(), "TERM=xterm")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, f
	require.NoError(t, cmd.Start())
	_ = f.Close()
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(&out, pty)
	}()
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err = <-waitErr:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("tty build did not finish")
	}
	require.NoError(t, err, out.String())
	_ = pty.Close()
	<-copied
	assertMasked(t, "tty", out.String())

	// Shown on request, for the live output only.
	r := mustSucceed(t, docker(t, append([]string{"build2", "--progress=plain"}, args...), withEnv("DOCKER_BUILD2_SHOW_SECRETS=1")))
	assert.Contains(t, r.stderr, secretValue)
}

// rawjsonLogs is what the steps printed, from rawjson progress (whose log
// data is base64).
func rawjsonLogs(t *testing.T, rawjson string) string {
	t.Helper()
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(rawjson), "\n") {
		var st struct {
			Logs []struct {
				Data []byte `json:"data"`
			} `json:"logs"`
		}
		if json.Unmarshal([]byte(line), &st) != nil {
			continue
		}
		for _, l := range st.Logs {
			b.Write(l.Data)
		}
	}
	require.NotEmpty(t, b.String(), "the steps printed something")
	return b.String()
}
