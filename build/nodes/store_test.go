package nodes

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStoreRoundTrip(t *testing.T) {
	t.Parallel()
	s := Store{Dir: filepath.Join(t.TempDir(), "config")}

	// An empty store: no builders, the embedded one is current.
	list, err := s.List()
	require.NoError(t, err)
	assert.Empty(t, list)
	assert.Empty(t, s.Current())
	_, err = s.Get("fleet")
	require.EqualError(t, err, `no builder named "fleet": see docker build2 builder ls`)

	fleet := &Builder{Name: "fleet", Nodes: []Node{
		{Name: "amd", Endpoint: "tcp://amd:1234", Platforms: []string{"linux/amd64"}, TLSCACert: "/ca.pem", TLSServerName: "amd.example"},
		{Name: "arm", Endpoint: "ssh://user@arm"},
	}}
	other := &Builder{Name: "another.one", Nodes: []Node{{Name: "n", Endpoint: "unix:///run/buildkit.sock"}}}
	require.NoError(t, s.Create(fleet))
	require.NoError(t, s.Create(other))

	got, err := s.Get("fleet")
	require.NoError(t, err)
	assert.Equal(t, fleet, got)
	st, err := os.Stat(filepath.Join(s.Dir, "builders", "fleet.json"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "builders may name TLS keys: owner only")

	list, err = s.List()
	require.NoError(t, err)
	assert.Equal(t, []*Builder{other, fleet}, list, "by name")

	err = s.Create(&Builder{Name: "fleet", Nodes: []Node{{Name: "x", Endpoint: "tcp://x:1"}}})
	require.EqualError(t, err, `builder "fleet" exists already: remove it first (docker build2 builder rm fleet)`)
	got, err = s.Get("fleet")
	require.NoError(t, err)
	assert.Equal(t, fleet, got, "a failed Create changes nothing")

	// Use and Current.
	require.NoError(t, s.Use("fleet"))
	assert.Equal(t, "fleet", s.Current())
	require.EqualError(t, s.Use("missing"), `no builder named "missing": see docker build2 builder ls`)
	assert.Equal(t, "fleet", s.Current())
	require.NoError(t, s.Use(Default))
	assert.Empty(t, s.Current())
	require.NoError(t, s.Use(Default), "going back to the embedded builder twice")
	require.NoError(t, s.Use("another.one"))

	// Removing the current builder makes the embedded one current.
	require.NoError(t, s.Remove("fleet"))
	assert.Equal(t, "another.one", s.Current(), "removing another builder keeps the current one")
	require.NoError(t, s.Remove("another.one"))
	assert.Empty(t, s.Current())
	require.EqualError(t, s.Remove("fleet"), `no builder named "fleet": see docker build2 builder ls`)
	list, err = s.List()
	require.NoError(t, err)
	assert.Empty(t, list)
}

func TestStoreCorrupt(t *testing.T) {
	t.Parallel()
	s := Store{Dir: t.TempDir()}
	require.NoError(t, os.MkdirAll(filepath.Join(s.Dir, "builders"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(s.Dir, "builders", "bad.json"), []byte("{"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(s.Dir, "builders", "README"), []byte("not a builder"), 0o600))
	_, err := s.Get("bad")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `builder "bad": `+filepath.Join(s.Dir, "builders", "bad.json")+" is not valid JSON")
	_, err = s.List()
	require.Error(t, err, "a corrupt builder file is reported, not skipped")
}

func TestValidate(t *testing.T) {
	t.Parallel()
	n := Node{Name: "n", Endpoint: "tcp://n:1234"}
	for _, tc := range []struct {
		name    string
		b       Builder
		wantErr string
	}{
		{"valid", Builder{Name: "my-builder_1.0", Nodes: []Node{n}}, ""},
		{"bad name", Builder{Name: "no/slashes", Nodes: []Node{n}}, `builder name "no/slashes": use letters, digits, '.', '_' and '-' (and not "default")`},
		{"leading dot", Builder{Name: ".hidden", Nodes: []Node{n}}, `builder name ".hidden"`},
		{"empty name", Builder{Name: "", Nodes: []Node{n}}, `builder name ""`},
		{"default", Builder{Name: Default, Nodes: []Node{n}}, `builder name "default"`},
		{"no nodes", Builder{Name: "b"}, "builder b: give at least one node"},
		{"duplicate node", Builder{Name: "b", Nodes: []Node{n, {Name: "m"}, n}}, `builder b: node "n" is given twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.b.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)

			// Create refuses what Validate refuses, and writes nothing.
			s := Store{Dir: t.TempDir()}
			b := tc.b
			require.Error(t, s.Create(&b))
			assert.NoDirExists(t, filepath.Join(s.Dir, "builders"))
		})
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"a": true, "A1": true, "node-1.example_x": true, "0": true,
		"": false, "-a": false, "_a": false, "a b": false, "a/b": false, "../x": false,
	} {
		assert.Equal(t, want, ValidName(name), name)
	}
}

func TestNodeRemote(t *testing.T) {
	t.Parallel()
	n := Node{Name: "n", Endpoint: "tcp://n:1234", TLSCACert: "ca", TLSCert: "cert", TLSKey: "key", TLSServerName: "sn"}
	r := n.Remote()
	assert.Equal(t, "tcp://n:1234", r.Address)
	assert.Equal(t, "ca", r.TLSCACert)
	assert.Equal(t, "cert", r.TLSCert)
	assert.Equal(t, "key", r.TLSKey)
	assert.Equal(t, "sn", r.TLSServerName)
}
