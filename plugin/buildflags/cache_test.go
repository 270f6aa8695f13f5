package buildflags

import (
	"errors"
	"strings"
	"testing"

	"github.com/docker-build2/docker-build2/build"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCacheBackends(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		spec    string
		want    build.CacheSpec
		wantErr string
	}{
		{
			name: "s3", spec: "type=s3,bucket=b,region=us-east-1,endpoint_url=http://127.0.0.1:9000,use_path_style=true,mode=max,upload_parallelism=2,retry_mode=adaptive,retry_max_attempts=3,touch_refresh=1h,name=a;b",
			want: build.CacheSpec{Type: "s3", Attrs: map[string]string{
				"bucket": "b", "region": "us-east-1", "endpoint_url": "http://127.0.0.1:9000", "use_path_style": "true", "mode": "max",
				"upload_parallelism": "2", "retry_mode": "adaptive", "retry_max_attempts": "3", "touch_refresh": "1h", "name": "a;b",
			}},
		},
		{
			name: "azblob", spec: "type=azblob,account_url=https://acct.blob.core.windows.net,secret_access_key=k,container=c,prefix=p/,name=n",
			want: build.CacheSpec{Type: "azblob", Attrs: map[string]string{"account_url": "https://acct.blob.core.windows.net", "secret_access_key": "k", "container": "c", "prefix": "p/", "name": "n"}},
		},
		{
			name: "gha", spec: "type=gha,scope=main,version=2,timeout=5m,url_v2=https://results.example/,token=t,ghtoken=g,repository=o/r",
			want: build.CacheSpec{Type: "gha", Attrs: map[string]string{"scope": "main", "version": "2", "timeout": "5m", "url_v2": "https://results.example/", "token": "t", "ghtoken": "g", "repository": "o/r"}},
		},
		{name: "gha with nothing", spec: "type=gha", want: build.CacheSpec{Type: "gha", Attrs: map[string]string{}}},
		{name: "compression", spec: "type=s3,compression=zstd,compression-level=3,force-compression=true,oci-mediatypes=false,ignore-error=true", want: build.CacheSpec{Type: "s3", Attrs: map[string]string{
			"compression": "zstd", "compression-level": "3", "force-compression": "true", "oci-mediatypes": "false", "ignore-error": "true",
		}}},
		{name: "bad mode", spec: "type=s3,bucket=b,mode=all", wantErr: `--cache-to "type=s3,bucket=b,mode=all": mode "all" is not valid: use min or max`},
		{name: "bad mode of local", spec: "type=local,dest=d,mode=maximum", wantErr: `mode "maximum" is not valid: use min or max`},
		{name: "bad bool", spec: "type=s3,use_path_style=yes", wantErr: `use_path_style "yes" is not a boolean: use true or false`},
		{name: "bad parallelism", spec: "type=s3,upload_parallelism=0", wantErr: `upload_parallelism "0" is not a positive integer: use 1 or more`},
		{name: "bad retry mode", spec: "type=s3,retry_mode=legacy", wantErr: `retry_mode "legacy" is not valid: use standard or adaptive`},
		{name: "bad duration", spec: "type=s3,touch_refresh=1day", wantErr: `touch_refresh "1day" is not a duration`},
		{name: "endpoint without scheme", spec: "type=s3,endpoint_url=127.0.0.1:9000", wantErr: `endpoint_url "127.0.0.1:9000" is not an http(s) URL`},
		{name: "bad account url", spec: "type=azblob,account_url=acct.blob.core.windows.net", wantErr: `account_url "acct.blob.core.windows.net" is not an http(s) URL`},
		{name: "bad gha version", spec: "type=gha,version=3", wantErr: `version "3" is not valid: use 1 or 2`},
		{name: "bad gha timeout", spec: "type=gha,timeout=10", wantErr: `timeout "10" is not a duration`},
		{name: "bad compression", spec: "type=s3,compression=xz", wantErr: `compression "xz" is not valid: use uncompressed, gzip, estargz or zstd`},
		{name: "secret masked", spec: "type=s3,secret_access_key=hunter2,session_token=tok2,use_path_style=maybe", wantErr: `--cache-to "type=s3,secret_access_key=****,session_token=****,use_path_style=maybe": use_path_style "maybe"`},
		{name: "token masked", spec: "type=gha,token=hunter2,Token=x,ghtoken=hunter2,version=0", wantErr: `"type=gha,token=****,Token=****,ghtoken=****,version=0"`},
		{name: "secret masked in a syntax error", spec: `type=azblob,secret_access_key=hunter2,"x`, wantErr: `--cache-to "type=azblob,secret_access_key=****,\"x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Caches("--cache-to", []string{tc.spec})
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				assert.NotContains(t, err.Error(), "hunter2")
				assert.NotContains(t, err.Error(), "\n")
				return
			}
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, tc.want, got[0])
			cacheRoundTrip(t, got[0])
		})
	}
}

func TestCacheEnvFill(t *testing.T) {
	t.Parallel()
	creds := func() (AWSCredentials, error) {
		return AWSCredentials{AccessKeyID: "AKID", SecretAccessKey: "SECRET", SessionToken: "SESSION"}, nil
	}
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	runner := map[string]string{"ACTIONS_RUNTIME_TOKEN": "rt", "ACTIONS_CACHE_URL": "https://cache.example/", "ACTIONS_RESULTS_URL": "https://results.example/"}
	spec := func(typ string, kv ...string) build.CacheSpec {
		c := build.CacheSpec{Type: typ, Attrs: map[string]string{}}
		for i := 0; i+1 < len(kv); i += 2 {
			c.Attrs[kv[i]] = kv[i+1]
		}
		return c
	}
	tests := []struct {
		name string
		env  CacheEnv
		in   []build.CacheSpec
		want []build.CacheSpec
	}{
		{name: "gha from the runner", env: CacheEnv{LookupEnv: env(runner)}, in: []build.CacheSpec{spec("gha")}, want: []build.CacheSpec{spec("gha", "token", "rt", "url", "https://cache.example/")}},
		{
			name: "gha v2 from the attribute", env: CacheEnv{LookupEnv: env(runner)}, in: []build.CacheSpec{spec("gha", "version", "2")},
			want: []build.CacheSpec{spec("gha", "version", "2", "token", "rt", "url", "https://cache.example/", "url_v2", "https://results.example/")},
		},
		{
			name: "gha v2 from ACTIONS_CACHE_SERVICE_V2", env: CacheEnv{LookupEnv: env(map[string]string{"ACTIONS_RUNTIME_TOKEN": "rt", "ACTIONS_RESULTS_URL": "https://results.example/", "ACTIONS_CACHE_SERVICE_V2": "true"})},
			in:   []build.CacheSpec{spec("gha")},
			want: []build.CacheSpec{spec("gha", "token", "rt", "url", "https://results.example/", "url_v2", "https://results.example/")},
		},
		{name: "gha attributes win", env: CacheEnv{LookupEnv: env(runner)}, in: []build.CacheSpec{spec("gha", "token", "mine", "url", "https://mine/")}, want: []build.CacheSpec{spec("gha", "token", "mine", "url", "https://mine/")}},
		{name: "gha off the runner is left out", env: CacheEnv{LookupEnv: env(nil)}, in: []build.CacheSpec{spec("gha"), spec("local", "dest", "d")}, want: []build.CacheSpec{spec("local", "dest", "d")}},
		{name: "gha without url is left out", env: CacheEnv{}, in: []build.CacheSpec{spec("gha", "token", "t")}, want: []build.CacheSpec{}},
		{name: "s3 credentials", env: CacheEnv{AWSCredentials: creds}, in: []build.CacheSpec{spec("s3", "bucket", "b")}, want: []build.CacheSpec{spec("s3", "bucket", "b", "access_key_id", "AKID", "secret_access_key", "SECRET", "session_token", "SESSION")}},
		{name: "s3 keys given", env: CacheEnv{AWSCredentials: func() (AWSCredentials, error) { panic("not asked") }}, in: []build.CacheSpec{spec("s3", "access_key_id", "a", "secret_access_key", "s")}, want: []build.CacheSpec{spec("s3", "access_key_id", "a", "secret_access_key", "s")}},
		{name: "s3 one key given", env: CacheEnv{AWSCredentials: creds}, in: []build.CacheSpec{spec("s3", "access_key_id", "a", "session_token", "mine")}, want: []build.CacheSpec{spec("s3", "access_key_id", "a", "secret_access_key", "SECRET", "session_token", "mine")}},
		{name: "s3 no credentials", env: CacheEnv{AWSCredentials: func() (AWSCredentials, error) { return AWSCredentials{}, errors.New("no chain") }}, in: []build.CacheSpec{spec("s3")}, want: []build.CacheSpec{spec("s3")}},
		{name: "others untouched", env: CacheEnv{LookupEnv: env(runner), AWSCredentials: creds}, in: []build.CacheSpec{spec("azblob", "account_url", "https://a/"), spec("registry", "ref", "r")}, want: []build.CacheSpec{spec("azblob", "account_url", "https://a/"), spec("registry", "ref", "r")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := make([]build.CacheSpec, len(tc.in))
			for i, c := range tc.in {
				in[i] = spec(c.Type)
				for k, v := range c.Attrs {
					in[i].Attrs[k] = v
				}
			}
			got := tc.env.Fill(in)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.in, in, "Fill leaves its input as it was")
		})
	}
}

func FuzzCacheBackends(f *testing.F) {
	for _, s := range []string{
		"reg/app:cache", "type=s3,bucket=b,secret_access_key=hunter2,use_path_style=true", "type=s3,secret_access_key=hunter2,mode=all", "type=azblob,account_url=http://127.0.0.1:1/a",
		"type=gha,version=2,token=t", "type=s3,mode=max,touch_refresh=1h", `type=s3,"token=a,b"`, "type=gha,timeout=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := Caches("--cache-from", []string{s})
		if err != nil {
			assert.True(t, strings.HasPrefix(err.Error(), "--cache-from "), err.Error())
			// A secret attribute's value never shows; the same text as
			// another attribute's value is no secret.
			if !strings.Contains(cacheSecret.ReplaceAllString(s, "${1}****"), "hunter2") {
				assert.NotContains(t, err.Error(), "hunter2")
			}
			return
		}
		require.Len(t, cs, 1)
		cacheRoundTrip(t, cs[0])
	})
}
