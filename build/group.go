package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/docker-build2/docker-build2/build/internal/atomicfile"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/ociindex"
)

// ContextTarget is a named context that is the result of another job run
// with it (bake's target:NAME): Value is that job's name.
const ContextTarget = "target"

// Job is one of the builds RunAll runs together: a bake target.
type Job struct {
	Name    string
	Options Options
	// ContextOnly jobs are built only as other jobs' contexts: no output
	// of their own, no result of their own.
	ContextOnly bool
	// Observe, when set, is given each of the job's statuses (before its
	// steps are named after it), as they go to the run's stream.
	Observe func(*client.SolveStatus)
}

// JobError is the failure of one job of RunAll.
type JobError struct {
	Job string
	Err error
}

func (e *JobError) Error() string { return fmt.Sprintf("target %q: %v", e.Job, e.Err) }
func (e *JobError) Unwrap() error { return e.Err }

// RunAll builds jobs on b at once, each as Run builds it, under one status
// stream in which each job's steps carry its name when there are several.
// A job whose named context is another job's result (ContextTarget) starts
// once that job is done; that job is built once, its result also written
// as an OCI layout that the others read. The first failure cancels the
// other jobs and is returned as a *JobError, with the results of the jobs
// that finished before. The results are by job name, context-only jobs
// left out.
func RunAll(ctx context.Context, b Builder, jobs []Job, status chan<- *client.SolveStatus) (map[string]*Result, error) {
	byName := make(map[string]*Job, len(jobs))
	for i := range jobs {
		byName[jobs[i].Name] = &jobs[i]
	}
	used, err := contextTargets(jobs, byName)
	if err != nil {
		return nil, err
	}
	var layouts string
	if len(used) > 0 {
		if layouts, err = os.MkdirTemp("", "docker-build2-targets-"); err != nil {
			return nil, err
		}
		defer func() { _ = os.RemoveAll(layouts) }()
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(context.Canceled)
	var (
		mu      sync.Mutex
		results = map[string]*Result{}
		first   error
	)
	done := make(map[string]chan struct{}, len(jobs))
	for _, j := range jobs {
		done[j.Name] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for i := range jobs {
		j := &jobs[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[j.Name])
			res, err := runJob(ctx, b, j, used[j.Name], layouts, done, len(jobs) > 1, status)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil && !errors.Is(err, errDependencyFailed) {
					first = &JobError{Job: j.Name, Err: err}
					cancel(first)
				}
				return
			}
			if !j.ContextOnly {
				results[j.Name] = res
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return results, first
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return nil, err
	}
	return results, nil
}

// errDependencyFailed ends a job whose context job failed: that failure is
// the one reported.
var errDependencyFailed = errors.New("a target it depends on failed")

// contextTargets checks the jobs' target contexts (each names a job of the
// run; no cycles) and returns the jobs other jobs read, by name.
func contextTargets(jobs []Job, byName map[string]*Job) (map[string]bool, error) {
	used := map[string]bool{}
	for _, j := range jobs {
		for name, c := range j.Options.Contexts {
			if c.Kind != ContextTarget {
				continue
			}
			if byName[c.Value] == nil {
				return nil, &JobError{Job: j.Name, Err: fmt.Errorf("context %s=target:%s: no target %q is built with it", name, c.Value, c.Value)}
			}
			used[c.Value] = true
		}
	}
	// A cycle would wait forever: refuse it.
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case 1:
			return &JobError{Job: name, Err: fmt.Errorf("its contexts form a cycle (%s): a target cannot be built from itself", strings.Join(append(path, name), " -> "))}
		case 2:
			return nil
		}
		state[name] = 1
		for _, c := range byName[name].Options.Contexts {
			if c.Kind == ContextTarget {
				if err := visit(c.Value, append(path, name)); err != nil {
					return err
				}
			}
		}
		state[name] = 2
		return nil
	}
	for _, j := range jobs {
		if err := visit(j.Name, nil); err != nil {
			return nil, err
		}
	}
	return used, nil
}

// runJob waits for the jobs j reads, points its target contexts at their
// OCI layouts, adds its own layout when others read it, and runs it.
func runJob(ctx context.Context, b Builder, j *Job, read bool, layouts string, done map[string]chan struct{}, prefix bool, status chan<- *client.SolveStatus) (*Result, error) {
	opts := j.Options
	opts.Contexts = maps.Clone(opts.Contexts)
	for name, c := range opts.Contexts {
		if c.Kind != ContextTarget {
			continue
		}
		select {
		case <-done[c.Value]:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		dir := filepath.Join(layouts, c.Value)
		desc, err := ociindex.NewStoreIndex(dir).GetSingle()
		if err != nil || desc == nil {
			return nil, errDependencyFailed
		}
		opts.Contexts[name] = NamedContext{Kind: ContextOCILayout, Value: dir, Ref: desc.Digest.String()}
	}
	if read {
		if j.ContextOnly {
			opts.Outputs = nil
		} else if len(opts.Outputs) == 0 && opts.Engine != nil && opts.Engine.Available(ctx) == nil {
			// Its own default output stays: the Docker engine.
			opts.Outputs = []Output{{Type: client.ExporterDocker}}
		}
		opts.Outputs = append(slices.Clone(opts.Outputs), Output{Type: client.ExporterOCI, Dest: filepath.Join(layouts, j.Name), Attrs: map[string]string{"tar": "false"}})
	}
	if prefix {
		st, wait := prefixed(status, j.Name)
		defer wait()
		status = st
	}
	if j.Observe != nil {
		st, wait := observed(status, j.Observe)
		defer wait()
		status = st
	}
	return Run(ctx, b, opts, status)
}

// WriteGroupMetadata writes the metadata file of a RunAll, as buildx bake
// writes it: by job name, what Run writes for each.
func WriteGroupMetadata(path string, results map[string]*Result) error {
	out := make(map[string]any, len(results))
	for name, res := range results {
		out[name] = Metadata(res.ExporterResponse)
	}
	dt, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, dt, 0o644); err != nil {
		return fmt.Errorf("writing the build metadata to %s: %w", path, err)
	}
	return nil
}

// observed returns a channel whose statuses reach out after fn saw them;
// done waits until all were passed on.
func observed(out chan<- *client.SolveStatus, fn func(*client.SolveStatus)) (_ chan<- *client.SolveStatus, done func()) {
	return relay(out, func(st *client.SolveStatus) *client.SolveStatus {
		fn(st)
		return st
	})
}
