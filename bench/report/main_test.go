package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPerStep(t *testing.T) {
	rows := []row{
		{Case: "cold", Tool: "docker-build2", MedianS: 1},
		{Case: "runsteps-10", Tool: "docker-build2", MedianS: 0.9},
		{Case: "runsteps-10", Tool: "docker-build2 --network=host", MedianS: 0.8},
		{Case: "runsteps-10", Tool: "buildctl+buildkitd", MedianS: 0.7},
	}
	assert.Equal(t, "\nThe isolated network (the default) adds 10.0 ms per RUN step to --network=host (runsteps-10: medians 0.900 s and 0.800 s over 10 steps).\n", perStep(rows))
	assert.Empty(t, perStep(rows[:2]), "nothing to compare with")
}

func TestPushNote(t *testing.T) {
	assert.Contains(t, pushNote([]row{{Case: "cold"}, {Case: "push-zstd"}}), "never exported")
	assert.Empty(t, pushNote([]row{{Case: "cold"}}))
}
