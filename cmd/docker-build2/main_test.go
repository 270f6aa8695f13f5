package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/docker/cli/cli"
	solvererrdefs "github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/stack"
	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestRender: each row of the exit-code table, and what is printed.
func TestRender(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	flagErr := cli.StatusError{
		Status:     "unknown flag: --colour\n\nUsage:  docker build2 [OPTIONS] PATH | URL | -\n\nRun 'docker build2 --help' for more information",
		StatusCode: 125,
	}
	internal := status.Error(codes.Internal, "worker died")
	exhausted := status.Error(codes.ResourceExhausted, "no space left on device")
	canceled := status.Error(codes.Canceled, "context canceled")
	failed := solvererrdefs.WithSource(
		errors.New(`process "/bin/sh -c false" did not complete successfully: exit code: 1`),
		&solvererrdefs.Source{
			Info:   &pb.SourceInfo{Filename: "Dockerfile", Data: []byte("FROM busybox\nRUN true\nRUN false\nRUN echo done\n")},
			Ranges: []*pb.Range{{Start: &pb.Position{Line: 3}, End: &pb.Position{Line: 3}}},
		})
	excerpt := "Dockerfile:3\n--------------------\n   1 |     FROM busybox\n   2 |     RUN true\n   3 | >>> RUN false\n   4 |     RUN echo done\n   5 |     \n--------------------\n"

	tests := []struct {
		name      string
		err       error
		debugging bool
		code      int
		want      string   // the whole output, when set
		contains  []string // else parts of it
	}{
		{name: "plain error", err: boom, code: 1, want: "ERROR: boom\n"},
		{name: "wrapped plain error", err: fmt.Errorf("build: %w", boom), code: 1, want: "ERROR: build: boom\n"},
		{name: "usage error", err: cli.StatusError{StatusCode: 125, Cause: errors.New(`--tag "A": must be lowercase`)}, code: 125, want: "ERROR: --tag \"A\": must be lowercase\n"},
		{name: "usage error wrapping an error", err: cli.StatusError{StatusCode: 125, Cause: fmt.Errorf("--output: %w", boom)}, code: 125, want: "ERROR: --output: boom\n"},
		{name: "docker flag error is printed as is", err: flagErr, code: 125, want: flagErr.Status + "\n"},
		{name: "docker flag error with debugging", err: flagErr, debugging: true, code: 125, want: flagErr.Status + "\n"},
		{name: "status code 0 is a failure", err: cli.StatusError{Cause: boom}, code: 1, want: "ERROR: boom\n"},
		{name: "an exit code alone prints nothing", err: cli.StatusError{StatusCode: 1}, code: 1, want: ""},
		{name: "buildkit internal error", err: internal, code: 100, want: "ERROR: rpc error: code = Internal desc = worker died\n"},
		{name: "wrapped internal error", err: fmt.Errorf("solve: %w", internal), code: 100, want: "ERROR: solve: rpc error: code = Internal desc = worker died\n"},
		{name: "resource exhausted", err: exhausted, code: 102, want: "ERROR: rpc error: code = ResourceExhausted desc = no space left on device\n"},
		{name: "wrapped resource exhausted", err: fmt.Errorf("export: %w", exhausted), code: 102, contains: []string{"ERROR: export: ", "no space left on device"}},
		{name: "grpc canceled", err: canceled, code: 130, contains: []string{"ERROR: ", "context canceled"}},
		{name: "wrapped grpc canceled", err: fmt.Errorf("solve: %w", canceled), code: 130, contains: []string{"ERROR: solve: "}},
		{name: "context canceled", err: context.Canceled, code: 130, want: "ERROR: context canceled\n"},
		{name: "wrapped context canceled", err: fmt.Errorf("build: %w", context.Canceled), code: 130, want: "ERROR: build: context canceled\n"},
		{name: "SIGTERM", err: cli.StatusError{StatusCode: 143, Cause: errors.New("interrupted by terminated")}, code: 143, want: "ERROR: interrupted by terminated\n"},
		{name: "signal code wins over the cause's", err: cli.StatusError{StatusCode: 130, Cause: internal}, code: 130, contains: []string{"ERROR: rpc error: code = Internal desc = worker died\n"}},
		{name: "debugging", err: stack.Enable(boom), debugging: true, code: 1, contains: []string{"ERROR: boom\n", "main_test.go:"}},
		{name: "debugging a status error", err: cli.StatusError{StatusCode: 143, Cause: stack.Enable(boom)}, debugging: true, code: 143, contains: []string{"ERROR: boom\n", "main_test.go:"}},
		{name: "Dockerfile excerpt", err: failed, code: 1, want: excerpt + "ERROR: process \"/bin/sh -c false\" did not complete successfully: exit code: 1\n"},
		{name: "Dockerfile excerpt through a signal", err: cli.StatusError{StatusCode: 130, Cause: fmt.Errorf("build: %w", failed)}, code: 130, want: excerpt + "ERROR: build: process \"/bin/sh -c false\" did not complete successfully: exit code: 1\n"},
		{name: "Dockerfile excerpt with debugging", err: failed, debugging: true, code: 1, contains: []string{excerpt + "ERROR: process "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			code := render(&out, tc.err, tc.debugging)
			assert.Equal(t, tc.code, code, "render's exit code")
			assert.Equal(t, tc.code, exitCode(tc.err), "exitCode")
			if tc.want != "" {
				assert.Equal(t, tc.want, out.String())
			}
			for _, c := range tc.contains {
				assert.Contains(t, out.String(), c)
			}
			var se cli.StatusError
			if errors.As(tc.err, &se) && (se.Status != "" || se.Cause == nil) {
				assert.NotContains(t, out.String(), "ERROR:")
			} else {
				assert.Equal(t, 1, strings.Count(out.String(), "ERROR:"), "one ERROR: line, no double prefix:\n%s", out.String())
			}
		})
	}
}
