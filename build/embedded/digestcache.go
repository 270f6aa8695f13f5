package embedded

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	gofs "io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// digestCache remembers, for one context directory, the digest of each
// regular file with the inode, size and times it had when hashed: a file
// whose change time moved is hashed again (any write, rename, chmod or
// chown moves it, and no call sets it back). A file changed too close to
// the hash to tell by its times ("racy") is not remembered.
type digestCache struct {
	file    string
	old     map[string]dcEntry
	entries map[string]dcEntry
}

type dcEntry struct {
	Ino, Size    uint64
	Mtime, Ctime int64
	Digest       digest.Digest
}

// racy is how recent a change may be for a digest not to be remembered:
// more than the coarsest file-time granularity of Linux file systems.
const racy = 100 * time.Millisecond

// loadDigestCache reads the cache of the context directory ctxDir seen
// through filters (one file each: a mount of the Dockerfile alone must not
// push out the digests of the whole context).
func loadDigestCache(dir, ctxDir string, filters []byte) *digestCache {
	sum := sha256.Sum256(append([]byte(ctxDir+"\x00"), filters...))
	dc := &digestCache{file: filepath.Join(dir, hex.EncodeToString(sum[:12])), entries: map[string]dcEntry{}}
	f, err := os.Open(dc.file)
	if err != nil {
		return dc
	}
	defer func() { _ = f.Close() }()
	var m map[string]dcEntry
	if gob.NewDecoder(bufio.NewReader(f)).Decode(&m) == nil {
		dc.old = m
	}
	return dc
}

// save writes the cache: a new file renamed over the old one, so that a
// killed process leaves one or the other.
func (dc *digestCache) save() {
	if err := os.MkdirAll(filepath.Dir(dc.file), 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(dc.file), ".tmp-")
	if err != nil {
		return
	}
	w := bufio.NewWriter(tmp)
	err = gob.NewEncoder(w).Encode(dc.entries)
	if err == nil {
		err = w.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dc.file)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
}

// digests returns the digest of each entry of v (in order), hashing on
// every CPU the regular files the cache does not know as they are.
func (dc *digestCache) digests(ctx context.Context, v *view, start time.Time) ([]digest.Digest, error) {
	out := make([]digest.Digest, len(v.entries))
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	limit := start.Add(-racy).UnixNano()
	for n, e := range v.entries {
		full := filepath.Join(v.dir, filepath.FromSlash(e.path))
		if !gofs.FileMode(e.st.Mode).IsRegular() {
			d, err := fileDigest(full, e.st)
			if err != nil {
				return nil, err
			}
			out[n] = d
			continue
		}
		st, err := stateOf(full)
		if err != nil {
			return nil, err
		}
		key := dcEntry{Ino: st.ino, Size: st.size, Mtime: st.mtime, Ctime: st.ctime}
		if old, ok := dc.old[e.path]; ok && old.Digest != "" && old.Ino == key.Ino && old.Size == key.Size && old.Mtime == key.Mtime && old.Ctime == key.Ctime {
			out[n] = old.Digest
			mu.Lock()
			dc.entries[e.path] = old
			mu.Unlock()
			continue
		}
		g.Go(func() error {
			if err := context.Cause(ctx); err != nil {
				return err
			}
			d, err := fileDigest(full, e.st)
			if err != nil {
				return err
			}
			out[n] = d
			if key.Ctime < limit {
				key.Digest = d
				mu.Lock()
				dc.entries[e.path] = key
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}
