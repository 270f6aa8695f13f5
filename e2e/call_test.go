package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckAndCall: --check (--call=check) reports the Dockerfile's lint
// violations instead of building and fails when there are any, as buildx
// does; --call=outline and targets describe the Dockerfile.
func TestCheckAndCall(t *testing.T) {
	requireE2E(t)
	bad := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}} as build\nRUN echo never-run-by-a-check\n")})
	good := writeFiles(t, map[string]string{"Dockerfile": dockerfile("# build compiles the app\nFROM {{BASE}} AS build\nARG VERSION=1\nRUN echo $VERSION\n\n# final is the image to ship\nFROM build AS final\n")})

	r := build2(t, "--check", "--progress=plain", bad)
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stdout, "FromAsCasing")
	assert.Contains(t, r.stdout, "Check complete, 1 warning has been found!")
	assert.NotContains(t, r.stderr, "never-run-by-a-check", "a check builds nothing")
	assert.NotContains(t, r.stderr, "ERROR", "the violations are the output")

	r = mustSucceed(t, build2(t, "--call=check,ignorestatus=true", bad))
	assert.Contains(t, r.stdout, "1 warning has been found")

	r = mustSucceed(t, build2(t, "--call=check", good))
	assert.Contains(t, r.stdout, "Check complete, no warnings found.")

	r = build2(t, "--call=check,format=json", bad)
	assert.Equal(t, 1, r.code, r.String())
	var results struct {
		Warnings []struct {
			RuleName string `json:"ruleName"`
		} `json:"warnings"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &results), r.stdout)
	require.Len(t, results.Warnings, 1)
	assert.Equal(t, "FromAsCasing", results.Warnings[0].RuleName)

	r = mustSucceed(t, build2(t, "--call=targets", good))
	assert.Regexp(t, `(?m)^build\s+.*compiles the app`, r.stdout)
	assert.Regexp(t, `(?m)^final \(default\)\s+.*the image to ship`, r.stdout)
	r = mustSucceed(t, build2(t, "--call=outline", "--target", "build", good))
	assert.Contains(t, r.stdout, "VERSION")

	r = build2(t, "--call=lint", good)
	assert.Equal(t, 125, r.code, r.String())
	assert.Contains(t, r.stderr, `--call "lint": unknown method "lint"`)
	noCrash(t, r)
}

// TestWarningsOnFailure: a failed build prints its warnings too, before
// the error, as buildx does.
func TestWarningsOnFailure(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}} as build\nRUN exit 7\n")})
	r := build2(t, "--progress=plain", ctx)
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, "1 warning found")
	assert.Contains(t, r.stderr, "FromAsCasing")
	assert.Less(t, strings.Index(r.stderr, "warning found"), strings.LastIndex(r.stderr, "ERROR:"), "the warnings come before the error")
}

// TestAddHostGateway: --add-host NAME:host-gateway names the host as RUN
// steps see it from their isolated network, so a server the test binds on
// the host's addresses answers by NAME.
func TestAddHostGateway(t *testing.T) {
	requireE2E(t)
	// Bound to all the host's addresses, as a service meant for containers
	// is: host-gateway reaches the host, not its loopback.
	l, err := net.Listen("tcp", ":0")
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("answered-through-host-gateway"))
	}))
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN wget -qO /got.txt http://the-host:" + port + "/\nFROM scratch\nCOPY --from=0 /got.txt /\n")})
	out := t.TempDir()
	mustSucceed(t, build2(t, "--add-host", "the-host:host-gateway", "-o", out, ctx))
	assert.Equal(t, "answered-through-host-gateway", readFile(t, filepath.Join(out, "got.txt")))
}

// TestDebugFlag: -D/--debug, as buildx has it, shows the failing error's
// stack, as "docker -D build2" does.
func TestDebugFlag(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN exit 9\n")})
	plain := build2(t, "--progress=plain", ctx)
	assert.Equal(t, 1, plain.code, plain.String())
	assert.NotRegexp(t, `\.go:\d+`, plain.stderr[strings.LastIndex(plain.stderr, "ERROR:"):], "no stack without -D")
	for _, args := range [][]string{{"build2", "-D", "--progress=plain", ctx}, {"build2", "build", "--debug", "--progress=plain", ctx}} {
		r := docker(t, args)
		assert.Equal(t, 1, r.code, r.String())
		assert.Regexp(t, `\.go:\d+`, r.stderr[strings.LastIndex(r.stderr, "ERROR:"):], "the stack with %v", args)
	}
}
