package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults of Limits, BuildKit's own for its history (solver/llbsolver/
// history.NewQueue).
const (
	DefaultMaxEntries = 50
	DefaultMaxAge     = 48 * time.Hour
)

// ErrNotFound is the error of a ref that names no record.
var ErrNotFound = errors.New("no build record")

// ErrAmbiguous is the error of a ref prefix that names several records.
var ErrAmbiguous = errors.New("ambiguous build record prefix")

// Limits bound what a Store keeps, as BuildKit bounds its history: a
// finished record is removed once it is neither among the MaxEntries
// newest nor younger than MaxAge.
type Limits struct {
	// MaxEntries is how many records are always kept; 0 means
	// DefaultMaxEntries, and a negative value keeps no records at all
	// (recording is off: Start's Writer stores nothing).
	MaxEntries int
	// MaxAge is how long a record is kept beyond the MaxEntries newest;
	// 0 means DefaultMaxAge.
	MaxAge time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxEntries == 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxAge == 0 {
		l.MaxAge = DefaultMaxAge
	}
	return l
}

// Store is the records directory of one state root. Its methods may be
// called from several goroutines and processes at once.
type Store struct {
	dir    string
	limits Limits
	// Warn, when set, is told of each file List skips (one that does not
	// parse); the listing goes on without it.
	Warn func(error)
	// now is the clock, for tests.
	now func() time.Time
}

// Open returns the store under root/records, creating the directory.
func Open(root string, limits Limits) (*Store, error) {
	dir := filepath.Join(root, "records")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("opening build records: %w", err)
	}
	return &Store{dir: dir, limits: limits.withDefaults(), now: time.Now}, nil
}

// Dir is the directory holding the records.
func (s *Store) Dir() string { return s.dir }

// Enabled reports whether the store records builds (Limits.MaxEntries is
// not negative).
func (s *Store) Enabled() bool { return s.limits.MaxEntries > 0 }

func (s *Store) recordPath(ref string) string { return filepath.Join(s.dir, ref+".json") }
func (s *Store) logPath(ref string) string    { return filepath.Join(s.dir, ref+".log") }

// List returns every record, newest first (by start time). A running
// record whose process is gone is returned as Crashed.
func (s *Store) List() ([]Record, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("listing build records: %w", err)
	}
	var out []Record
	for _, e := range entries {
		ref, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !validRef(ref) || !e.Type().IsRegular() {
			continue // temporary files start with a dot
		}
		rec, err := s.read(ref)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) && s.Warn != nil {
				s.Warn(err)
			}
			continue
		}
		out = append(out, rec)
	}
	slices.SortStableFunc(out, func(a, b Record) int {
		if c := b.Started.Compare(a.Started); c != 0 {
			return c
		}
		return strings.Compare(a.Ref, b.Ref)
	})
	return out, nil
}

// read reads one record file.
func (s *Store) read(ref string) (Record, error) {
	var rec Record
	p := s.recordPath(ref)
	dt, err := os.ReadFile(p)
	if err != nil {
		return rec, err
	}
	dec := json.NewDecoder(bytes.NewReader(dt))
	if err := dec.Decode(&rec); err != nil {
		return rec, fmt.Errorf("skipping build record %s: %w", p, err)
	}
	if rec.Ref != ref {
		return rec, fmt.Errorf("skipping build record %s: it holds ref %q", p, rec.Ref)
	}
	if rec.Status == Running && !alive(rec.PID, rec.PIDStart) {
		rec.Status = Crashed
	}
	return rec, nil
}

// alive reports whether the process pid, started at start, still runs.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	got, ok := procStart(pid)
	return ok && (start == 0 || got == start)
}

// Get returns the record ref names: a full ref, a prefix of exactly one
// ref, or "^N", the Nth newest record ("^1" the last build, "^2" the one
// before), as buildx's history commands take them. An unknown ref is
// ErrNotFound, a prefix of several ErrAmbiguous.
func (s *Store) Get(ref string) (Record, error) {
	recs, err := s.List()
	if err != nil {
		return Record{}, err
	}
	return pick(recs, ref)
}

func pick(recs []Record, ref string) (Record, error) {
	if n, ok := strings.CutPrefix(ref, "^"); ok {
		i, err := strconv.Atoi(n)
		if err != nil || i < 1 {
			return Record{}, fmt.Errorf("invalid build record offset %q: use ^1 for the last build, ^2 for the one before", ref)
		}
		if i > len(recs) {
			return Record{}, fmt.Errorf("%w %q: there are %d", ErrNotFound, ref, len(recs))
		}
		return recs[i-1], nil
	}
	if ref == "" {
		return Record{}, fmt.Errorf("%w: empty ref", ErrNotFound)
	}
	var found []Record
	for _, r := range recs {
		if r.Ref == ref {
			return r, nil
		}
		if strings.HasPrefix(r.Ref, ref) {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return Record{}, fmt.Errorf("%w %q", ErrNotFound, ref)
	case 1:
		return found[0], nil
	}
	return Record{}, fmt.Errorf("%w %q: it matches %d records", ErrAmbiguous, ref, len(found))
}

// Remove removes the records refs name (as Get takes them); nothing is
// removed when one of them names none.
func (s *Store) Remove(refs ...string) error {
	recs, err := s.List()
	if err != nil {
		return err
	}
	var del []string
	for _, ref := range refs {
		r, err := pick(recs, ref)
		if err != nil {
			return err
		}
		del = append(del, r.Ref)
	}
	for _, ref := range del {
		if err := s.remove(ref); err != nil {
			return err
		}
	}
	return nil
}

// RemoveAll removes every record but those of builds still running, and
// returns how many it removed.
func (s *Store) RemoveAll() (int, error) {
	return s.removeIf(func(Record) bool { return true })
}

// RemoveBefore removes the finished records that ended before t (a
// crashed one: that started before t), and
// returns how many it removed.
func (s *Store) RemoveBefore(t time.Time) (int, error) {
	return s.removeIf(func(r Record) bool { return r.end().Before(t) })
}

func (s *Store) removeIf(f func(Record) bool) (int, error) {
	recs, err := s.List()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range recs {
		if r.Status == Running || !f(r) {
			continue
		}
		if err := s.remove(r.Ref); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Prune applies the Limits: it removes the finished records beyond the
// MaxEntries newest that are older than MaxAge, and returns how many.
func (s *Store) Prune() (int, error) {
	recs, err := s.List()
	if err != nil {
		return 0, err
	}
	keep := max(s.limits.MaxEntries, 0)
	cutoff := s.now().Add(-s.limits.MaxAge)
	n := 0
	kept := 0
	for _, r := range recs {
		if r.Status == Running {
			continue
		}
		if kept < keep {
			kept++
			continue
		}
		if !r.end().Before(cutoff) {
			continue
		}
		if err := s.remove(r.Ref); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// remove deletes a record's files; one already gone (another process
// pruned it) is not an error.
func (s *Store) remove(ref string) error {
	for _, p := range []string{s.recordPath(ref), s.logPath(ref)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing build record %s: %w", ref, err)
		}
	}
	return nil
}

// Logs opens the statuses of the record ref names: JSON lines, each a
// BuildKit client.SolveStatus (as --progress=rawjson prints them). The
// last line of a running build's log may be cut short. A record without a
// log has an empty one.
func (s *Store) Logs(ref string) (io.ReadCloser, error) {
	r, err := s.Get(ref)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(s.logPath(r.Ref))
	if errors.Is(err, os.ErrNotExist) {
		return io.NopCloser(strings.NewReader("")), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading logs of build record %s: %w", r.Ref, err)
	}
	return f, nil
}

// writeRecord replaces the record file whole: a temporary file, synced,
// renamed over it, so that no reader sees half of it.
func (s *Store) writeRecord(rec *Record) error {
	dt, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(s.dir, s.recordPath(rec.Ref), append(dt, '\n'))
}

func writeAtomic(dir, p string, dt []byte) error {
	f, err := os.CreateTemp(dir, "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing build record: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(dt)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing build record: %w", err)
	}
	return nil
}
