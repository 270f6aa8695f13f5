package plugin

import (
	"testing"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/plugin/internal/clitest"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/stretchr/testify/assert"
)

// TestSetDefaultArgs: the docker config's proxies (for the engine's host,
// else the default ones) and $SOURCE_DATE_EPOCH become build args unless
// --build-arg names them; a proxy named in either case keeps both out.
func TestSetDefaultArgs(t *testing.T) {
	t.Parallel()
	defaults := configfile.ProxyConfig{HTTPProxy: "http://p:3128", NoProxy: "localhost", AllProxy: "socks5://p:1080"}
	for _, tc := range []struct {
		name      string
		proxies   func(host string) map[string]configfile.ProxyConfig
		buildArgs []string
		epoch     string
		want      map[string]string
	}{
		{name: "nothing", want: map[string]string{}},
		{
			name: "default proxies, both cases",
			proxies: func(string) map[string]configfile.ProxyConfig {
				return map[string]configfile.ProxyConfig{"default": defaults}
			},
			want: map[string]string{
				"HTTP_PROXY": "http://p:3128", "http_proxy": "http://p:3128", "NO_PROXY": "localhost", "no_proxy": "localhost",
				"ALL_PROXY": "socks5://p:1080", "all_proxy": "socks5://p:1080",
			},
		},
		{
			name: "the engine's host first",
			proxies: func(host string) map[string]configfile.ProxyConfig {
				return map[string]configfile.ProxyConfig{"default": defaults, host: {HTTPSProxy: "https://h:1"}}
			},
			want: map[string]string{"HTTPS_PROXY": "https://h:1", "https_proxy": "https://h:1"},
		},
		{
			name: "--build-arg wins, in either case",
			proxies: func(string) map[string]configfile.ProxyConfig {
				return map[string]configfile.ProxyConfig{"default": defaults}
			},
			buildArgs: []string{"http_proxy=http://mine:1", "NO_PROXY", "SOURCE_DATE_EPOCH=1"},
			epoch:     "1700000000",
			want:      map[string]string{"http_proxy": "http://mine:1", "SOURCE_DATE_EPOCH": "1", "ALL_PROXY": "socks5://p:1080", "all_proxy": "socks5://p:1080"},
		},
		{name: "SOURCE_DATE_EPOCH from the environment", epoch: "1700000000", want: map[string]string{"SOURCE_DATE_EPOCH": "1700000000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dockerCLI := clitest.New(t)
			if tc.proxies != nil {
				dockerCLI.ConfigFile().Proxies = tc.proxies(dockerCLI.DockerEndpoint().Host)
			}
			r := &request{raw: &buildOptions{buildArgs: tc.buildArgs, sourceDateEpoch: tc.epoch}, opts: build.Options{BuildArgs: map[string]string{}}}
			// What buildflags.BuildArgs made of the flags (NO_PROXY unset in
			// the environment).
			for _, kv := range [][2]string{{"http_proxy", "http://mine:1"}, {"SOURCE_DATE_EPOCH", "1"}} {
				for _, a := range tc.buildArgs {
					if a == kv[0]+"="+kv[1] {
						r.opts.BuildArgs[kv[0]] = kv[1]
					}
				}
			}
			r.setDefaultArgs(dockerCLI)
			assert.Equal(t, tc.want, r.opts.BuildArgs)
		})
	}
}
