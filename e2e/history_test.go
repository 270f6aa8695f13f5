package e2e

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// historyRecord is what history ls --format json shows of a record.
type historyRecord struct {
	Ref    string `json:"ref"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

func historyList(t *testing.T, state string) []historyRecord {
	t.Helper()
	r := mustSucceed(t, docker(t, []string{"build2", "history", "ls", "--root", state, "--format", "json"}))
	var out []historyRecord
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line == "" {
			continue
		}
		var rec historyRecord
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		out = append(out, rec)
	}
	return out
}

// TestBuildRecords: every build leaves a record: a failing one shows its
// error, the failing step's excerpt and logs; ls, inspect, rm, export and
// import work on records of several builds; two builds at once on one
// solver leave two records; the summary names the record.
func TestBuildRecords(t *testing.T) {
	requireE2E(t)
	state := t.TempDir()
	ok := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo fine\n")})
	bad := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo about-to-fail && exit 7\n")})

	r := mustSucceed(t, docker(t, []string{"build2", "--root", state, "--progress=plain", ok}))
	m := regexp.MustCompile(`Build record: ([a-z0-9]+) \(docker build2 history inspect ([a-z0-9]+)\)`).FindStringSubmatch(r.stderr)
	require.NotNil(t, m, "the summary names the record:\n%s", r.stderr)
	okRef := m[1]

	r = docker(t, []string{"build2", "--root", state, "--progress=plain", bad})
	require.Equal(t, 1, r.code, r.String())
	recs := historyList(t, state)
	require.Len(t, recs, 2)
	assert.Equal(t, okRef, recs[1].Ref, "newest first")
	badRef := recs[0].Ref
	assert.NotEqual(t, recs[0].Status, recs[1].Status)

	r = mustSucceed(t, docker(t, []string{"build2", "history", "inspect", "--root", state}))
	assert.Contains(t, r.stdout, "exit code: 7", "^1 is the failed build")
	assert.Contains(t, r.stdout, "RUN echo about-to-fail && exit 7", "the Dockerfile excerpt")
	r = mustSucceed(t, docker(t, []string{"build2", "history", "logs", "--root", state, "--progress", "plain", badRef[:8]}))
	assert.Contains(t, r.stdout+r.stderr, "about-to-fail", "the failing step's logs, by a prefix of the ref")
	r = mustSucceed(t, docker(t, []string{"build2", "history", "inspect", "--root", state, "^2"}))
	assert.NotContains(t, r.stdout, "exit code: 7")

	// Export and import, rm.
	exported := filepath.Join(t.TempDir(), "rec.tar")
	mustSucceed(t, docker(t, []string{"build2", "history", "export", "--root", state, "-o", exported, badRef}))
	mustSucceed(t, docker(t, []string{"build2", "history", "rm", "--root", state, badRef}))
	require.Len(t, historyList(t, state), 1)
	other := t.TempDir()
	r = mustSucceed(t, docker(t, []string{"build2", "history", "import", "--root", other, "-f", exported}))
	assert.Contains(t, r.stdout, badRef)
	require.Len(t, historyList(t, other), 1)
	r = docker(t, []string{"build2", "history", "inspect", "--root", state, "nosuchref"})
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, "history ls")

	// Two builds at once on one solver.
	done := make(chan result, 2)
	for _, v := range []string{"one", "two"} {
		go func() {
			done <- docker(t, []string{"build2", "--root", state, "--no-cache", "--build-arg", "V=" + v, ok})
		}()
	}
	for range 2 {
		mustSucceed(t, <-done)
	}
	assert.Len(t, historyList(t, state), 3)
	mustSucceed(t, docker(t, []string{"build2", "history", "rm", "--root", state, "--all"}))
	assert.Empty(t, historyList(t, state))
}

// TestBuildSummary: the summary's numbers are the build's: a rebuild's
// steps are cached, and the context sent is the known context's size.
func TestBuildSummary(t *testing.T) {
	requireE2E(t)
	state := t.TempDir()
	payload := strings.Repeat("0123456789", 10_000) // 100,000 bytes
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nCOPY payload /\nRUN wc -c /payload\n"), "payload": payload})
	r := mustSucceed(t, docker(t, []string{"build2", "--root", state, "--progress=plain", ctx}))
	line := summaryLine(t, r.stderr)
	assert.Regexp(t, `context sent`, line)
	assert.Regexp(t, `\b(100\.[0-9]+|9[0-9]\.[0-9]+)kB of context sent`, line, "about the payload's 100 kB")
	r = mustSucceed(t, docker(t, []string{"build2", "--root", state, "--progress=plain", ctx}))
	assert.Regexp(t, `\(0 run, [0-9]+ cached\)|[0-9]+ cached`, summaryLine(t, r.stderr), "the rebuild is cached")
	r = mustSucceed(t, docker(t, []string{"build2", "--root", state, "--progress=quiet", ctx}))
	assert.NotContains(t, r.stderr, "Summary:", "not in quiet mode")
	r = mustSucceed(t, docker(t, []string{"build2", "--root", state, "--progress=rawjson", ctx}))
	assert.NotContains(t, r.stderr, "Summary:", "rawjson stays JSON")
}

func summaryLine(t *testing.T, stderr string) string {
	t.Helper()
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "Summary: ") {
			return l
		}
	}
	t.Fatalf("no summary in:\n%s", stderr)
	return ""
}

// TestSecretsMaskedInRecords: the secret example's values are *** in
// history logs, also when DOCKER_BUILD2_SHOW_SECRETS showed them live, and
// no byte of them is anywhere in the state dir.
func TestSecretsMaskedInRecords(t *testing.T) {
	requireE2E(t)
	state := t.TempDir()
	_, args := secretProject(t)
	mustSucceed(t, docker(t, append([]string{"build2", "--root", state, "--progress=plain"}, args...)))
	mustSucceed(t, docker(t, append([]string{"build2", "--root", state, "--progress=plain"}, args...), withEnv("DOCKER_BUILD2_SHOW_SECRETS=1")))
	for _, ref := range []string{"^1", "^2"} {
		r := mustSucceed(t, docker(t, []string{"build2", "history", "logs", "--root", state, "--progress", "plain", ref}))
		assertMasked(t, "history logs "+ref, r.stdout+r.stderr)
	}
	var leaks []string
	require.NoError(t, filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil //nolint:nilerr // a file that vanished while walking holds nothing
		}
		dt, err := os.ReadFile(p)
		if err != nil {
			return nil //nolint:nilerr // sockets and the like
		}
		for _, v := range append([]string{secretValue, secretValue[:len(secretValue)-7]}, strings.Split(multiLineSecret, "\n")[1:3]...) {
			if bytes.Contains(dt, []byte(v)) {
				leaks = append(leaks, p)
			}
		}
		return nil
	}))
	assert.Empty(t, leaks, "files of the state dir holding a secret value")
}

// TestBakeRecords: each bake target leaves a record under its name.
func TestBakeRecords(t *testing.T) {
	requireE2E(t)
	state := t.TempDir()
	dir := writeFiles(t, map[string]string{
		"docker-bake.hcl": "group \"default\" { targets = [\"one\", \"two\"] }\ntarget \"one\" {\n  dockerfile-inline = \"FROM scratch\\n\"\n}\ntarget \"two\" {\n  dockerfile-inline = \"FROM scratch\\n\"\n}\n",
	})
	mustSucceed(t, docker(t, []string{"build2", "bake", "--root", state}, withDir(dir)))
	var names []string
	for _, r := range historyList(t, state) {
		names = append(names, r.Name)
	}
	assert.ElementsMatch(t, []string{"one", "two"}, names)
}

// TestCrashedBuildRecord: a build killed mid-step leaves its record,
// shown as crashed, and the store stays readable.
func TestCrashedBuildRecord(t *testing.T) {
	requireE2E(t)
	state := t.TempDir()
	slow := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo started; sleep 60\n")})
	cmd := exec.Command(world.plugin, "build", "--root", state, "--no-cache", "--progress=plain", slow)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+world.configDir)
	var out syncBuffer
	cmd.Stderr = &out
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "started") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	require.Contains(t, out.String(), "started")
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	recs := historyList(t, state)
	require.Len(t, recs, 1)
	assert.Equal(t, "crashed", recs[0].Status)
	r := mustSucceed(t, docker(t, []string{"build2", "history", "logs", "--root", state, "--progress", "plain"}))
	assert.Contains(t, r.stdout+r.stderr, "started", "the logs up to the crash")
}

// TestMetadataBuildRefAndWarnings: the metadata file names the build's
// record as buildx.build.ref (BUILDER/NODE/REF), per bake target too, and
// holds the build's warnings with BUILDX_METADATA_WARNINGS=1, as buildx.
func TestMetadataBuildRefAndWarnings(t *testing.T) {
	requireE2E(t)
	state := t.TempDir()
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}} as build\nRUN echo x\n")})
	meta := filepath.Join(t.TempDir(), "meta.json")
	mustSucceed(t, docker(t, []string{"build2", "--root", state, "--metadata-file", meta, ctx}, withEnv("BUILDX_METADATA_WARNINGS=1")))
	var md struct {
		Ref      string `json:"buildx.build.ref"`
		Warnings []struct {
			Short []byte `json:"short"` // base64, as buildx writes client.VertexWarning
		} `json:"buildx.build.warnings"`
	}
	require.NoError(t, json.Unmarshal([]byte(readFile(t, meta)), &md))
	recs := historyList(t, state)
	require.Len(t, recs, 1)
	assert.Equal(t, "default/default/"+recs[0].Ref, md.Ref)
	require.Len(t, md.Warnings, 1)
	assert.Contains(t, string(md.Warnings[0].Short), "FromAsCasing")

	mustSucceed(t, docker(t, []string{"build2", "--root", state, "--metadata-file", meta, ctx}))
	require.NoError(t, json.Unmarshal([]byte(readFile(t, meta)), &md))
	assert.NotContains(t, readFile(t, meta), "buildx.build.warnings", "only when asked for")

	dir := writeFiles(t, map[string]string{"docker-bake.hcl": "target \"default\" {\n  dockerfile-inline = \"FROM scratch\\n\"\n}\n"})
	mustSucceed(t, docker(t, []string{"build2", "bake", "--root", state, "--metadata-file", meta}, withDir(dir)))
	var bm map[string]map[string]any
	require.NoError(t, json.Unmarshal([]byte(readFile(t, meta)), &bm))
	assert.Equal(t, "default/default/"+historyList(t, state)[0].Ref, bm["default"]["buildx.build.ref"])
}
