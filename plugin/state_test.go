package plugin

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIdleValue(t *testing.T) {
	var v idleValue
	require.NoError(t, v.Set("1m30s"))
	assert.Equal(t, 90*time.Second, time.Duration(v))
	require.NoError(t, v.Set("0"))
	assert.Equal(t, "0s", v.String())
	require.ErrorContains(t, v.Set("-1s"), "-1s is negative: give 0 (the solver stops with each build) or a duration such as 10s")
	require.ErrorContains(t, v.Set("soon"), `invalid duration "soon"`)
}
