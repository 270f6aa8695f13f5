package daemonconfig

import (
	"fmt"
	"time"
)

// History is "builder.history", as dockerd reads it: {"maxAge": "48h",
// "maxEntries": 50}.
type History struct {
	// MaxAge is a Go duration ("48h"); empty means the default.
	MaxAge string `json:"maxAge,omitempty"`
	// MaxEntries is how many records are always kept; nil means the
	// default, 0 turns recording off.
	MaxEntries *int64 `json:"maxEntries,omitempty"`
}

// HistoryLimits is builder.history checked and typed.
type HistoryLimits struct {
	// MaxAge is 0 when not set.
	MaxAge time.Duration
	// MaxEntries is nil when not set; 0 turns recording off.
	MaxEntries *int64
}

// BuildHistory returns builder.history typed; an error names the key.
func (c *Config) BuildHistory() (HistoryLimits, error) {
	var out HistoryLimits
	if c == nil {
		return out, nil
	}
	h := c.Builder.History
	if h.MaxAge != "" {
		d, err := time.ParseDuration(h.MaxAge)
		if err != nil || d < 0 {
			return out, fmt.Errorf("builder.history.maxAge: %q is not a duration (e.g. 48h)", h.MaxAge)
		}
		out.MaxAge = d
	}
	if h.MaxEntries != nil {
		if *h.MaxEntries < 0 {
			return out, fmt.Errorf("builder.history.maxEntries: %d is negative (0 turns build records off)", *h.MaxEntries)
		}
		n := *h.MaxEntries
		out.MaxEntries = &n
	}
	return out, nil
}
