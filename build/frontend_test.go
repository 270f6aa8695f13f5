package build

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSyntax(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "docker/dockerfile:1.2", Syntax([]byte("# syntax=docker/dockerfile:1.2\nFROM scratch\n")))
	assert.Equal(t, "docker/dockerfile:1", Syntax([]byte("#!/usr/bin/env docker-build2\n# syntax = docker/dockerfile:1\nFROM scratch\n")))
	assert.Empty(t, Syntax([]byte("FROM scratch\n# syntax=docker/dockerfile:1\n")))
}

func TestBuiltinCovers(t *testing.T) {
	t.Parallel()
	for ref, want := range map[string]bool{
		"docker/dockerfile:1":                      true,
		"docker/dockerfile:1.2":                    true,
		"docker.io/docker/dockerfile:1.7.1":        true,
		"docker/dockerfile":                        true,
		"docker/dockerfile:1-labs":                 false,
		"docker/dockerfile:1.7-labs":               false,
		"docker/dockerfile-upstream:master":        false,
		"docker/dockerfile:2":                      false,
		"example.com/docker/dockerfile:1":          false,
		"myorg/frontend:1":                         false,
		"docker/dockerfile@sha256:" + sixtyFourHex: false,
		"not a ref":                                false,
	} {
		assert.Equal(t, want, BuiltinCovers(ref), ref)
	}
}

const sixtyFourHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
