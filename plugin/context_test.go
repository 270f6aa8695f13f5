package plugin

import (
	"archive/tar"
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIsArchive(t *testing.T) {
	t.Parallel()
	var realTar bytes.Buffer
	tw := tar.NewWriter(&realTar)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: 13}))
	_, err := tw.Write([]byte("FROM scratch\n"))
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	ustarHeader := make([]byte, 512)
	copy(ustarHeader[257:], "ustar")
	misplaced := make([]byte, 512)
	copy(misplaced[256:], "ustar")

	for _, tc := range []struct {
		name string
		dt   []byte
		want bool
	}{
		{"tar written by archive/tar", realTar.Bytes(), true},
		{"ustar magic at 257", ustarHeader, true},
		{"ustar magic elsewhere", misplaced, false},
		{"just too short for the tar magic", ustarHeader[:261], false},
		{"gzip", []byte{0x1f, 0x8b, 8, 0}, true},
		{"bzip2", []byte("BZh91AY&SY"), true},
		{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0x00, 0x00}, true},
		{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd, 0x04}, true},
		{"half a gzip magic", []byte{0x1f}, false},
		{"a Dockerfile", []byte("FROM scratch\nCOPY . /\n"), false},
		{"a Dockerfile starting with BZ", []byte("BZ\n"), false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, isArchive(tc.dt))
		})
	}
}
