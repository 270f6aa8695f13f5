package plugin

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/plugin/buildflags"
)

// Environment variables are read here only, as flag defaults; each is named
// in its flag's help text.

func defaultRoot() string {
	if v := os.Getenv("DOCKER_BUILD2_ROOT"); v != "" {
		return v
	}
	return builtinRoot()
}

func builtinRoot() string {
	if os.Geteuid() == 0 {
		return "/var/lib/docker-build2"
	}
	if v := os.Getenv("XDG_DATA_HOME"); v != "" {
		return filepath.Join(v, "docker-build2")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "docker-build2")
	}
	return filepath.Join(os.TempDir(), "docker-build2")
}

// defaultSolverIdle is how long the embedded solver keeps serving after a
// build unless --solver-idle says: long enough for the next build of an
// edit-build loop or a script, short enough to hold no memory for long.
func defaultSolverIdle() (time.Duration, error) {
	const builtin = 10 * time.Second
	v := os.Getenv("DOCKER_BUILD2_SOLVER_IDLE")
	if v == "" {
		return builtin, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return builtin, fmt.Errorf("invalid DOCKER_BUILD2_SOLVER_IDLE %q: want a duration such as 10s, or 0 to stop the solver with each build", v)
	}
	return d, nil
}

func defaultProgress() string {
	if v := os.Getenv("BUILDKIT_PROGRESS"); v != "" {
		return v
	}
	return "auto"
}

func defaultPlatforms() []string {
	if v := os.Getenv("DOCKER_DEFAULT_PLATFORM"); v != "" {
		return strings.Split(v, ",")
	}
	return nil
}

// defaultDaemonConfig is dockerd's daemon.json: /etc/docker/daemon.json for
// root, $XDG_CONFIG_HOME/docker/daemon.json otherwise.
func defaultDaemonConfig() string {
	if v := os.Getenv("DOCKER_BUILD2_DAEMON_CONFIG"); v != "" {
		return v
	}
	if os.Geteuid() == 0 {
		return "/etc/docker/daemon.json"
	}
	if v := os.Getenv("XDG_CONFIG_HOME"); v != "" {
		return filepath.Join(v, "docker", "daemon.json")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".config", "docker", "daemon.json")
	}
	return ""
}

// defaultCertsDir is where registry certificates live, in docker's layout:
// $DOCKER_BUILD2_CERTS_DIR, else /etc/docker/certs.d for root and, as
// rootless dockerd has it, $XDG_CONFIG_HOME/docker/certs.d for other users.
func defaultCertsDir() string {
	if v := os.Getenv("DOCKER_BUILD2_CERTS_DIR"); v != "" {
		return v
	}
	if os.Geteuid() == 0 {
		return "/etc/docker/certs.d"
	}
	if v := os.Getenv("XDG_CONFIG_HOME"); v != "" {
		return filepath.Join(v, "docker", "certs.d")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".config", "docker", "certs.d")
	}
	return "/etc/docker/certs.d"
}

// defaultBuilder is $BUILDX_BUILDER, as buildx's --builder default, else
// $BUILDKIT_HOST.
func defaultBuilder() string {
	if v := buildxBuilderEnv(); v != "" {
		return v
	}
	return os.Getenv("BUILDKIT_HOST")
}

// defaultSourceDateEpoch is $SOURCE_DATE_EPOCH, which buildx passes as the
// build arg of that name (the time the image and, with
// rewrite-timestamp=true, its files are dated).
func defaultSourceDateEpoch() string { return os.Getenv("SOURCE_DATE_EPOCH") }

// bakeEnviron is the environment bake's variables and Compose files read,
// as buildx reads it.
func bakeEnviron() []string { return os.Environ() }

// bakeFSChecks is whether bake refuses to read or write outside the
// working directory without --allow, as buildx: on unless
// BUILDX_BAKE_ENTITLEMENTS_FS is false (or, for a remote definition,
// BAKE_ALLOW_REMOTE_FS_ACCESS is true).
func bakeFSChecks(remote bool) (bool, error) {
	on := true
	if v, ok := os.LookupEnv("BAKE_ALLOW_REMOTE_FS_ACCESS"); ok && remote {
		allow, err := strconv.ParseBool(v)
		if err != nil {
			return false, usageErrf("BAKE_ALLOW_REMOTE_FS_ACCESS=%q: use true or false", v)
		}
		on = !allow
	}
	if v, ok := os.LookupEnv("BUILDX_BAKE_ENTITLEMENTS_FS"); ok {
		checks, err := strconv.ParseBool(v)
		if err != nil {
			return false, usageErrf("BUILDX_BAKE_ENTITLEMENTS_FS=%q: use true or false", v)
		}
		on = checks
	}
	return on, nil
}

// showSecrets is DOCKER_BUILD2_SHOW_SECRETS: secret values shown in the
// live output of this build, never in its record.
func showSecrets() bool {
	v, _ := strconv.ParseBool(os.Getenv("DOCKER_BUILD2_SHOW_SECRETS"))
	return v
}

// gitDirEnv reports whether $GIT_DIR names the repository git reads,
// wherever the context is.
func gitDirEnv() bool { return os.Getenv("GIT_DIR") != "" }

// metadataWarnings is BUILDX_METADATA_WARNINGS: the build's warnings in
// its metadata file, as buildx writes them.
func metadataWarnings() bool {
	v, _ := strconv.ParseBool(os.Getenv("BUILDX_METADATA_WARNINGS"))
	return v
}

// metadataProvenance is BUILDX_METADATA_PROVENANCE: how much of the
// build's provenance its metadata file carries (min by default).
func metadataProvenance() build.MetadataProvenance {
	return build.ParseMetadataProvenance(os.Getenv("BUILDX_METADATA_PROVENANCE"))
}

// noDefaultAttestations is $BUILDX_NO_DEFAULT_ATTESTATIONS, as buildx
// reads it: true drops the default provenance attestation.
func noDefaultAttestations() (bool, error) {
	v, ok := os.LookupEnv("BUILDX_NO_DEFAULT_ATTESTATIONS")
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("invalid BUILDX_NO_DEFAULT_ATTESTATIONS %q: not a boolean", v)
	}
	return b, nil
}

// gitEnv is what buildx records of a local context's Git checkout:
// $BUILDX_GIT_INFO (default true) the source and revision in the
// provenance, $BUILDX_GIT_LABELS (true or full; default false) them as
// image labels, $BUILDX_GIT_CHECK_DIRTY a "-dirty" revision.
func gitEnv() (info, labels, checkDirty bool) {
	info = true
	if v, ok := os.LookupEnv("BUILDX_GIT_INFO"); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			info = b
		}
	}
	if v, ok := os.LookupEnv("BUILDX_GIT_LABELS"); ok {
		if v == "full" {
			labels = true
		} else if b, err := strconv.ParseBool(v); err == nil {
			labels = b
		}
	}
	if v, ok := os.LookupEnv("BUILDX_GIT_CHECK_DIRTY"); ok {
		checkDirty, _ = strconv.ParseBool(v)
	}
	return info, labels, checkDirty
}

// cacheEnv is what --cache-from/--cache-to take from the environment, as
// buildx: $ACTIONS_RUNTIME_TOKEN, $ACTIONS_CACHE_URL, $ACTIONS_RESULTS_URL
// and $ACTIONS_CACHE_SERVICE_V2 for gha; for s3, the AWS SDK's default
// credentials ($AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY,
// $AWS_SESSION_TOKEN, $AWS_PROFILE and the shared files), read once and
// only when an s3 cache lacks its keys.
func cacheEnv() buildflags.CacheEnv {
	return buildflags.CacheEnv{LookupEnv: os.LookupEnv, AWSCredentials: sync.OnceValues(awsCredentials)}
}

// buildxBuilderEnv is BUILDX_BUILDER: the builder the builder commands
// (and, as in buildx, builds) use when none is named.
func buildxBuilderEnv() string { return os.Getenv("BUILDX_BUILDER") }
