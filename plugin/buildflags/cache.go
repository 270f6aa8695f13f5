package buildflags

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker-build2/docker-build2/build"
)

// CacheTypes are the cache backends, in the order messages list them.
var CacheTypes = []string{"registry", "local", "inline", "gha", "s3", "azblob"}

// attrCheck checks the value of one attribute; its error says what to use
// instead.
type attrCheck func(v string) error

// cacheAttrChecks are the attributes whose values BuildKit reads as more
// than text, by cache type ("" for every type). BuildKit ignores some bad
// values (use_path_style=yes is false) and fails on others mid-build;
// both are refused here, before the build.
var cacheAttrChecks = map[string]map[string]attrCheck{
	"": {
		"mode":              valueOf("min", "max"),
		"ignore-error":      boolean,
		"compression":       valueOf("uncompressed", "gzip", "estargz", "zstd"),
		"compression-level": integer,
		"force-compression": boolean,
		"oci-mediatypes":    boolean,
	},
	"s3": {
		"endpoint_url":            httpURL,
		"use_path_style":          boolean,
		"disable_accept_encoding": boolean,
		"upload_parallelism":      positive,
		"retry_mode":              valueOf("standard", "adaptive"),
		"retry_max_attempts":      positive,
		"touch_refresh":           duration,
	},
	"azblob": {
		"account_url": httpURL,
	},
	"gha": {
		"url":     httpURL,
		"url_v2":  httpURL,
		"version": valueOf("1", "2"),
		"timeout": duration,
	},
}

// cacheSecret matches the attributes that hold credentials, so that an
// error shows the spec with their values masked.
var cacheSecret = regexp.MustCompile(`(?i)((?:^|,)\s*"?\s*(?:secret_access_key|session_token|token|ghtoken)\s*=)[^,]*`)

// Caches parses --cache-from/--cache-to values (flag names which); a bare
// reference is shorthand for type=registry,ref=REF. Attributes BuildKit
// reads as booleans, numbers, durations, URLs or one of a set of words are
// checked; credentials in a spec never show in its error.
func Caches(flag string, specs []string) ([]build.CacheSpec, error) {
	var out []build.CacheSpec
	for _, s := range specs {
		c, err := cache(s)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", flag, cacheSecret.ReplaceAllString(s, "${1}****"), err)
		}
		out = append(out, c)
	}
	return out, nil
}

func cache(s string) (build.CacheSpec, error) {
	if !strings.Contains(s, "=") {
		return build.CacheSpec{Type: "registry", Attrs: map[string]string{"ref": s}}, nil
	}
	typ, attrs, err := splitKeyValues(s)
	if err != nil {
		return build.CacheSpec{}, err
	}
	if !slices.Contains(CacheTypes, typ) {
		return build.CacheSpec{}, fmt.Errorf("unknown cache type %q: use one of %s", typ, strings.Join(CacheTypes, ", "))
	}
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		check := cacheAttrChecks[typ][k]
		if check == nil {
			check = cacheAttrChecks[""][k]
		}
		if check == nil {
			continue
		}
		if err := check(attrs[k]); err != nil {
			return build.CacheSpec{}, fmt.Errorf("%s %q %w", k, attrs[k], err)
		}
	}
	return build.CacheSpec{Type: typ, Attrs: attrs}, nil
}

func valueOf(words ...string) attrCheck {
	return func(v string) error {
		if slices.Contains(words, v) {
			return nil
		}
		return fmt.Errorf("is not valid: use %s", oneOf(words))
	}
}

func boolean(v string) error {
	if _, err := strconv.ParseBool(v); err != nil {
		return fmt.Errorf("is not a boolean: use true or false")
	}
	return nil
}

func integer(v string) error {
	if _, err := strconv.Atoi(v); err != nil {
		return fmt.Errorf("is not an integer")
	}
	return nil
}

func positive(v string) error {
	if n, err := strconv.Atoi(v); err != nil || n < 1 {
		return fmt.Errorf("is not a positive integer: use 1 or more")
	}
	return nil
}

func duration(v string) error {
	if _, err := time.ParseDuration(v); err != nil {
		return fmt.Errorf("is not a duration: use e.g. 90s, 10m or 24h")
	}
	return nil
}

func httpURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("is not an http(s) URL: use e.g. https://host[:port][/path]")
	}
	return nil
}

// FormatCache is the --cache-from/--cache-to spec of c.
func FormatCache(c build.CacheSpec) string {
	fields := []string{"type=" + c.Type}
	for _, k := range slices.Sorted(maps.Keys(c.Attrs)) {
		fields = append(fields, k+"="+c.Attrs[k])
	}
	return csvJoin(fields)
}

// CacheEnv is what the cache backends take from the client's environment,
// filled in as buildx fills it before it sends a spec to the builder: the
// builder, remote or embedded, may not run with the client's environment.
type CacheEnv struct {
	// LookupEnv reads ACTIONS_RUNTIME_TOKEN, ACTIONS_CACHE_URL,
	// ACTIONS_RESULTS_URL and ACTIONS_CACHE_SERVICE_V2, the GitHub Actions
	// runner's. Nil: none is set.
	LookupEnv func(string) (string, bool)
	// AWSCredentials are the AWS SDK's default credentials (its
	// environment variables, shared files, SSO, instance roles), asked for
	// only by an s3 cache without both access_key_id and
	// secret_access_key. Nil or an error: none.
	AWSCredentials func() (AWSCredentials, error)
}

// AWSCredentials are the credentials an s3 cache signs its requests with.
type AWSCredentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// Fill returns caches with what each takes from e and is not given: for
// gha, token and url (url_v2 for version 2 of the cache service); for s3,
// access_key_id, secret_access_key and session_token. A gha cache that has
// no token or no url after that is left out, as buildx leaves it out: off
// GitHub Actions, type=gha does nothing.
func (e CacheEnv) Fill(caches []build.CacheSpec) []build.CacheSpec {
	out := make([]build.CacheSpec, 0, len(caches))
	for _, c := range caches {
		c.Attrs = maps.Clone(c.Attrs)
		if c.Attrs == nil {
			c.Attrs = map[string]string{}
		}
		switch c.Type {
		case "gha":
			e.fillGHA(c.Attrs)
			if c.Attrs["token"] == "" || (c.Attrs["url"] == "" && c.Attrs["url_v2"] == "") {
				continue
			}
		case "s3":
			e.fillS3(c.Attrs)
		}
		out = append(out, c)
	}
	return out
}

func (e CacheEnv) lookup(k string) (string, bool) {
	if e.LookupEnv == nil {
		return "", false
	}
	return e.LookupEnv(k)
}

// fillGHA is buildx's addGithubToken, after the runner's own reading of
// these variables (actions/toolkit packages/cache/src/internal/config.ts).
func (e CacheEnv) fillGHA(attrs map[string]string) {
	version, ok := attrs["version"]
	if !ok {
		if v, ok := e.lookup("ACTIONS_CACHE_SERVICE_V2"); ok {
			if on, err := strconv.ParseBool(v); err == nil && on {
				version = "2"
			}
		}
	}
	setFrom := func(attr string, vars ...string) {
		if _, ok := attrs[attr]; ok {
			return
		}
		for _, name := range vars {
			if v, ok := e.lookup(name); ok {
				attrs[attr] = v
				return
			}
		}
	}
	setFrom("token", "ACTIONS_RUNTIME_TOKEN")
	if version == "2" {
		setFrom("url_v2", "ACTIONS_RESULTS_URL")
	}
	setFrom("url", "ACTIONS_CACHE_URL", "ACTIONS_RESULTS_URL")
}

// fillS3 is buildx's addAwsCredentials: given keys are kept, and a session
// token is added only with keys that were not both given.
func (e CacheEnv) fillS3(attrs map[string]string) {
	_, haveID := attrs["access_key_id"]
	_, haveSecret := attrs["secret_access_key"]
	if (haveID && haveSecret) || e.AWSCredentials == nil {
		return
	}
	creds, err := e.AWSCredentials()
	if err != nil {
		return
	}
	if !haveID && creds.AccessKeyID != "" {
		attrs["access_key_id"] = creds.AccessKeyID
	}
	if !haveSecret && creds.SecretAccessKey != "" {
		attrs["secret_access_key"] = creds.SecretAccessKey
	}
	if _, ok := attrs["session_token"]; !ok && creds.SessionToken != "" {
		attrs["session_token"] = creds.SessionToken
	}
}
