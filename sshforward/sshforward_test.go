package sshforward

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func env(m map[string]string) LookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeKey(t *testing.T, dir, name string, passphrase []byte) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	var blk *pem.Block
	if passphrase != nil {
		blk, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", passphrase)
	} else {
		blk, err = ssh.MarshalPrivateKey(priv, "")
	}
	require.NoError(t, err)
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(blk), 0o600))
	return p
}

// startAgent serves an in-memory agent on a unix socket in dir.
func startAgent(t *testing.T, dir string) string {
	t.Helper()
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	keyring := agent.NewKeyring()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _ = agent.ServeAgent(keyring, c); _ = c.Close() }()
		}
	}()
	return sock
}

func TestParseSpecs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := startAgent(t, dir)
	keyA := writeKey(t, dir, "id_a", nil)
	keyB := writeKey(t, dir, "id_b", nil)
	locked := writeKey(t, dir, "id_locked", []byte("hunter2"))
	notKey := filepath.Join(dir, "notkey")
	require.NoError(t, os.WriteFile(notKey, []byte("hello"), 0o600))
	withAgent := env(map[string]string{"SSH_AUTH_SOCK": sock})
	noAgent := env(map[string]string{})

	tests := []struct {
		name    string
		in      []string
		env     LookupEnv
		want    Specs
		wantErr string
	}{
		{name: "default", in: []string{"default"}, env: withAgent, want: Specs{{ID: "default", Paths: []string{sock}}}},
		{name: "id=socket", in: []string{"main=" + sock}, env: noAgent, want: Specs{{ID: "main", Paths: []string{sock}}}},
		{name: "keys", in: []string{"keys=" + keyA + "," + keyB}, env: noAgent, want: Specs{{ID: "keys", Paths: []string{keyA, keyB}}}},
		{name: "several ids", in: []string{"default", "other=" + keyA}, env: withAgent, want: Specs{{ID: "default", Paths: []string{sock}}, {ID: "other", Paths: []string{keyA}}}},
		{name: "default without agent", in: []string{"default"}, env: noAgent, wantErr: "--ssh default: SSH_AUTH_SOCK is not set"},
		{name: "missing path", in: []string{"x=/nonexistent/sock"}, env: noAgent, wantErr: `--ssh x: "/nonexistent/sock": no such file or directory`},
		{name: "not a socket or key", in: []string{"x=" + notKey}, env: noAgent, wantErr: "is neither an agent socket nor a private key file"},
		{name: "directory", in: []string{"x=" + dir}, env: noAgent, wantErr: "is neither an agent socket nor a private key file"},
		{name: "passphrase", in: []string{"x=" + locked}, env: noAgent, wantErr: "is passphrase-protected: add it to an ssh-agent"},
		{name: "duplicate", in: []string{"x=" + keyA, "x=" + keyB}, env: noAgent, wantErr: "--ssh x is given more than once"},
		{name: "socket and keys", in: []string{"x=" + sock + "," + keyA}, env: noAgent, wantErr: "not both"},
		{name: "empty id", in: []string{"=" + keyA}, env: noAgent, wantErr: "the id before"},
		{name: "empty path", in: []string{"x=" + keyA + ","}, env: noAgent, wantErr: "empty path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSpecs(tc.in, tc.env)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			a, err := got.Attachable()
			require.NoError(t, err)
			assert.NotNil(t, a)
		})
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"default", "main=/run/agent.sock", "keys=/a,/b"} {
		var s Spec
		require.NoError(t, s.UnmarshalText([]byte(in)))
		assert.Equal(t, in, s.String())
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"default", "a=/x", "k=/a,/b", "=x", "a=", "a,b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s Spec
		if err := s.UnmarshalText([]byte(in)); err != nil {
			return
		}
		var back Spec
		require.NoError(t, back.UnmarshalText([]byte(s.String())))
		assert.Equal(t, s, back)
	})
}
