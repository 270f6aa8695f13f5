package records

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// The files of an export: a tar of the record and its log.
const (
	exportRecord = "record.json"
	exportLog    = "log.jsonl"
)

// maxImportRecord bounds the record file of an import.
const maxImportRecord = 16 << 20

// Export writes the record ref names, with its log, to w as one tar file
// (record.json and log.jsonl) that Import reads back.
func (s *Store) Export(ref string, w io.Writer) error {
	rec, err := s.Get(ref)
	if err != nil {
		return err
	}
	dt, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	logs, err := s.Logs(rec.Ref)
	if err != nil {
		return err
	}
	defer func() { _ = logs.Close() }()
	// The log's size is fixed when the header is written: a running
	// build's log keeps growing, so it is read whole first.
	logData, err := io.ReadAll(logs)
	if err != nil {
		return fmt.Errorf("reading logs of build record %s: %w", rec.Ref, err)
	}
	tw := tar.NewWriter(w)
	mtime := rec.end()
	for _, f := range []struct {
		name string
		dt   []byte
	}{{exportRecord, append(dt, '\n')}, {exportLog, logData}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o600, Size: int64(len(f.dt)), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
			return fmt.Errorf("exporting build record %s: %w", rec.Ref, err)
		}
		if _, err := tw.Write(f.dt); err != nil {
			return fmt.Errorf("exporting build record %s: %w", rec.Ref, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("exporting build record %s: %w", rec.Ref, err)
	}
	return nil
}

// Import stores the record of an Export read from r, and returns its ref:
// the exported one, or a new one when the store already has that ref. A
// record exported while its build ran is stored as Crashed: its process is
// not this machine's.
func (s *Store) Import(r io.Reader) (string, error) {
	rec, logTmp, err := s.readExport(r)
	if logTmp != "" {
		defer func() { _ = os.Remove(logTmp) }()
	}
	if err != nil {
		return "", fmt.Errorf("importing build record: %w", err)
	}
	if !validRef(rec.Ref) {
		rec.Ref = newRef()
	}
	if _, err := os.Stat(s.recordPath(rec.Ref)); err == nil {
		rec.Ref = newRef()
	}
	if rec.Status == Running || rec.Status == "" {
		rec.Status = Crashed
	}
	rec.PID, rec.PIDStart = 0, 0
	if logTmp != "" {
		if err := os.Rename(logTmp, s.logPath(rec.Ref)); err != nil {
			return "", fmt.Errorf("importing build record: %w", err)
		}
	}
	if err := s.writeRecord(rec); err != nil {
		return "", err
	}
	return rec.Ref, nil
}

// readExport reads an export: its record, and its log into a temporary
// file of the store's directory (its path, "" when there is none).
func (s *Store) readExport(r io.Reader) (*Record, string, error) {
	var rec *Record
	logTmp := ""
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, logTmp, fmt.Errorf("not an export of docker build2 history: %w", err)
		}
		switch h.Name {
		case exportRecord:
			rec = &Record{}
			if err := json.NewDecoder(io.LimitReader(tr, maxImportRecord)).Decode(rec); err != nil {
				return nil, logTmp, fmt.Errorf("%s: %w", exportRecord, err)
			}
		case exportLog:
			if logTmp, err = s.copyTemp(tr); err != nil {
				return nil, logTmp, err
			}
		}
	}
	if rec == nil {
		return nil, logTmp, fmt.Errorf("no %s: not an export of docker build2 history", exportRecord)
	}
	if rec.Started.IsZero() {
		return nil, logTmp, fmt.Errorf("%s has no start time", exportRecord)
	}
	return rec, logTmp, nil
}

// copyTemp copies r into a temporary file of the store's directory.
func (s *Store) copyTemp(r io.Reader) (string, error) {
	f, err := os.CreateTemp(s.dir, ".import-*.log")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return f.Name(), err
}
