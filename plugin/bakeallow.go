package plugin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/build/bake"
	"github.com/tonistiigi/go-csvvalue"
)

// bakeAllow is bake's --allow, as buildx reads it: entitlements the
// definition's targets may use, and the paths outside the working
// directory they may read or write.
type bakeAllow struct {
	networkHost, securityInsecure, ssh bool
	read, write                        []string
	anyRead, anyWrite                  bool
}

func parseBakeAllow(values []string) (bakeAllow, error) {
	var a bakeAllow
	for _, v := range values {
		k, p, hasValue := strings.Cut(v, "=")
		switch {
		case v == "network.host":
			a.networkHost = true
		case v == "security.insecure":
			a.securityInsecure = true
		case v == "ssh":
			a.ssh = true
		case k == "device" || k == "image" || k == "image.push" || k == "image.load":
			// Granted: docker-build2 asks for neither.
		case hasValue && (k == "fs.read" || k == "fs.write" || k == "fs"):
			a.addPath(k, p)
		default:
			return a, usageErrf("--allow %q: unknown entitlement: use network.host, security.insecure, ssh, fs=PATH, fs.read=PATH or fs.write=PATH", v)
		}
	}
	return a, nil
}

// addPath grants p for reading (fs.read), writing (fs.write) or both (fs);
// "*" is every path.
func (a *bakeAllow) addPath(key, p string) {
	if key != "fs.write" {
		a.read = append(a.read, p)
		a.anyRead = a.anyRead || p == "*"
	}
	if key != "fs.read" {
		a.write = append(a.write, p)
		a.anyWrite = a.anyWrite || p == "*"
	}
}

// access is what the targets of a bake ask for.
type access struct {
	networkHost, securityInsecure, ssh bool
	read, write                        []string
}

// add adds what target t, whose request is opts, reads, writes and asks
// for.
func (a *access) add(t *bake.Target, opts build.Options) {
	a.networkHost = a.networkHost || slices.Contains(t.Entitlements, "network.host")
	a.securityInsecure = a.securityInsecure || slices.Contains(t.Entitlements, "security.insecure")
	a.addPaths(opts, t.DockerfileInline != nil)
	for _, s := range t.Secrets.Flags() {
		fields, _ := csvvalue.Fields(s, nil)
		for _, f := range fields {
			if k, v, ok := strings.Cut(f, "="); ok && (k == "src" || k == "source") {
				a.read = append(a.read, v)
			}
		}
	}
	for _, s := range t.SSH.Flags() {
		_, paths, ok := strings.Cut(s, "=")
		if !ok {
			a.ssh = true // the agent
			continue
		}
		a.read = append(a.read, strings.Split(paths, ",")...)
	}
}

// addPaths adds the local paths a request reads (its context, Dockerfile
// unless inline, local contexts and cache sources) and writes (outputs and
// cache destinations).
func (a *access) addPaths(opts build.Options, inlineDockerfile bool) {
	if opts.ContextDir != "" {
		a.read = append(a.read, opts.ContextDir)
	}
	if opts.DockerfileDir != "" && !inlineDockerfile {
		a.read = append(a.read, filepath.Join(opts.DockerfileDir, opts.DockerfileName))
	}
	for _, c := range opts.Contexts {
		if c.Kind == build.ContextLocal || c.Kind == build.ContextOCILayout {
			a.read = append(a.read, c.Value)
		}
	}
	for _, c := range opts.CacheImports {
		if c.Type == "local" && c.Attrs["src"] != "" {
			a.read = append(a.read, c.Attrs["src"])
		}
	}
	for _, c := range opts.CacheExports {
		if c.Type == "local" && c.Attrs["dest"] != "" {
			a.write = append(a.write, c.Attrs["dest"])
		}
	}
	for _, o := range opts.Outputs {
		if o.Dest != "" && o.Dest != "-" {
			a.write = append(a.write, o.Dest)
		}
	}
}

// check refuses, in one line that names the --allow flags to pass, what
// the targets ask for and --allow does not grant. Paths under the working
// directory wd are granted, as with buildx; fsChecks false
// (BUILDX_BAKE_ENTITLEMENTS_FS=0) grants every path.
func (a bakeAllow) check(need access, wd string, fsChecks bool) error {
	var missing []string
	if need.networkHost && !a.networkHost {
		missing = append(missing, "network.host")
	}
	if need.securityInsecure && !a.securityInsecure {
		missing = append(missing, "security.insecure")
	}
	if need.ssh && !a.ssh {
		missing = append(missing, "ssh")
	}
	if fsChecks {
		reads := outside(need.read, append(slices.Clone(a.read), wd), a.anyRead)
		writes := outside(need.write, append(slices.Clone(a.write), wd), a.anyWrite)
		for _, p := range reads {
			if slices.Contains(writes, p) {
				missing = append(missing, "fs="+relTo(wd, p))
				continue
			}
			missing = append(missing, "fs.read="+relTo(wd, p))
		}
		for _, p := range writes {
			if !slices.Contains(reads, p) {
				missing = append(missing, "fs.write="+relTo(wd, p))
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	for i, m := range missing {
		missing[i] = "--allow=" + m
	}
	// Not a usage error: the definition asks for more than granted, and
	// buildx fails such a bake with 1.
	return fmt.Errorf("additional privileges requested: pass %q to grant requested privileges", strings.Join(missing, " "))
}

// outside are the paths of need that no path of granted holds, resolved
// through symlinks, shortest first, each once.
func outside(need, granted []string, any bool) []string {
	if any {
		return nil
	}
	roots := make([]string, 0, len(granted))
	for _, g := range granted {
		roots = append(roots, resolve(g))
	}
	var out []string
	for _, p := range need {
		r := resolve(p)
		if slices.ContainsFunc(roots, func(root string) bool { return within(r, root) }) {
			continue
		}
		if !slices.ContainsFunc(out, func(o string) bool { return within(r, o) }) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}

// resolve is p absolute, with the symlinks of its longest existing prefix
// resolved.
func resolve(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	rest := ""
	for cur := abs; ; cur = filepath.Dir(cur) {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		} else if !errors.Is(err, fs.ErrNotExist) || cur == filepath.Dir(cur) {
			return abs
		}
		rest = filepath.Join(filepath.Base(cur), rest)
	}
}

func within(p, root string) bool {
	if p == root || root == "/" {
		return true
	}
	return strings.HasPrefix(p, strings.TrimSuffix(root, "/")+"/")
}

func relTo(wd, p string) string {
	if r, err := filepath.Rel(wd, p); err == nil {
		return r
	}
	return p
}

// workingDir is the working directory with its symlinks resolved.
func workingDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("reading the working directory: %w", err)
	}
	return resolve(wd), nil
}
