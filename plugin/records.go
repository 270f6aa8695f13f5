package plugin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/build/records"
	"github.com/docker-build2/docker-build2/progress"
	"github.com/docker-build2/docker-build2/secrets"
	"github.com/docker-build2/docker-build2/sshforward"
	"github.com/docker/cli/cli/command"
	"github.com/moby/buildkit/client"
)

// buildRecord is the record of one build or bake target as it runs: the
// status reaches it through a masker of its own, which masks whatever
// the live output shows.
type buildRecord struct {
	w    *records.Writer
	mask *progress.Masker
}

// startRecord starts the record of a build of opts named name. A record
// that cannot be started is no reason to fail the build: it is nil, and
// its methods do nothing.
func startRecord(store *records.Store, name string, opts build.Options, secretSpecs, sshSpecs []string, values [][]byte, warn func(error)) *buildRecord {
	if store == nil {
		return nil
	}
	wd, _ := os.Getwd()
	rec := records.Record{
		Name:          name,
		LocalDir:      wd,
		Frontend:      "dockerfile.v0",
		FrontendAttrs: recordAttrs(opts),
		Context:       firstNonEmpty(opts.ContextDir, opts.ContextURL),
		Dockerfile:    filepath.Join(opts.DockerfileDir, opts.DockerfileName),
	}
	for _, text := range secretSpecs {
		var s secrets.Spec
		if s.UnmarshalText([]byte(text)) == nil {
			rec.SecretIDs = append(rec.SecretIDs, s.ID)
		}
	}
	for _, text := range sshSpecs {
		var s sshforward.Spec
		if s.UnmarshalText([]byte(text)) == nil {
			rec.SSHIDs = append(rec.SSHIDs, s.ID)
		}
	}
	w, err := store.Start(rec)
	if err != nil {
		warn(err)
		return nil
	}
	return &buildRecord{w: w, mask: progress.NewMasker(values)}
}

// recordAttrs are the frontend options a record keeps: build args (secret
// values are never build args here), target, platforms, labels.
func recordAttrs(opts build.Options) map[string]string {
	attrs := map[string]string{}
	for k, v := range opts.BuildArgs {
		attrs["build-arg:"+k] = v
	}
	for k, v := range opts.Labels {
		attrs["label:"+k] = v
	}
	if opts.Target != "" {
		attrs["target"] = opts.Target
	}
	if len(opts.Platforms) > 0 {
		attrs["platform"] = strings.Join(opts.Platforms, ",")
	}
	return attrs
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// observe records one status, masked.
func (r *buildRecord) observe(st *client.SolveStatus) {
	if r != nil {
		r.w.Add(r.mask.Mask(st))
	}
}

// finish writes the record's outcome: its error, outputs and the context
// bytes sent.
func (r *buildRecord) finish(err error, opts build.Options, res *build.Result, contextBytes int64) error {
	if r == nil {
		return nil
	}
	if st := r.mask.Flush(); st != nil {
		r.w.Add(st)
	}
	return r.w.Finish(err, func(rec *records.Record) {
		rec.ContextBytes = contextBytes
		digest := ""
		if res != nil {
			digest = res.ExporterResponse["containerimage.digest"]
		}
		for _, o := range opts.Outputs {
			out := records.Output{Type: o.Type, Dest: o.Dest, Name: o.Attrs["name"]}
			if out.Name == "" && (o.Type == "image" || o.Type == "registry") {
				out.Name = strings.Join(opts.Tags, ",")
			}
			if o.Type != "local" && o.Type != "tar" {
				out.Digest = digest
			}
			rec.Outputs = append(rec.Outputs, out)
		}
	})
}

// ref is the record's reference, "" without a record.
func (r *buildRecord) ref() string {
	if r == nil {
		return ""
	}
	return r.w.Ref()
}

// openRecordsOrWarn opens the state dir's build records; when it cannot,
// the build goes on unrecorded, with a warning.
func openRecordsOrWarn(dockerCLI command.Cli, o stateOptions) *records.Store {
	st, err := openRecords(dockerCLI, o)
	if err != nil {
		warnRecord(dockerCLI)(err)
		return nil
	}
	return st
}

// warnRecord prints a record's failure, which does not fail the build.
func warnRecord(dockerCLI command.Cli) func(error) {
	return func(err error) { fmt.Fprintf(dockerCLI.Err(), "WARNING: build record: %v\n", err) }
}

// addMetadataWarnings adds the build's warnings to its metadata file as
// buildx.build.warnings when BUILDX_METADATA_WARNINGS asks for them, as
// buildx does.
func addMetadataWarnings(path string, warnings []client.VertexWarning) error {
	if path == "" || len(warnings) == 0 || !metadataWarnings() {
		return nil
	}
	return build.AddMetadata(path, "buildx.build.warnings", warnings)
}
