package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/docker-build2/docker-build2/build/records"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/docker/go-units"
	"github.com/spf13/cobra"
)

const historyLsTableFormat = "table {{.Ref}}\t{{.Name}}\t{{.Status}}\t{{.CreatedAt}}\t{{.Duration}}"

type historyLsOptions struct {
	state   stateOptions
	format  string
	noTrunc bool
	filters []string
	local   bool
	// wd is the working directory, for --local.
	wd string
	// now is the clock of CREATED AT and of the time filters.
	now time.Time
}

func newHistoryLsCommand(dockerCLI command.Cli) *cobra.Command {
	var o historyLsOptions
	cmd := &cobra.Command{
		Use:   "ls [OPTIONS]",
		Short: "List build records",
		Long: `List build records, newest first.

Filters, as buildx's: status=running|completed|error|canceled|crashed
(and status!=), ref=PREFIX (and ref!=), startedAt, completedAt (with <,
<=, > or >= and a duration ago, e.g. "startedAt>24h" for the last day, or
an RFC 3339 time) and duration (e.g. "duration>1m").`,
		Args: cli.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			var err error
			if o.local {
				if o.wd, err = os.Getwd(); err != nil {
					return fmt.Errorf("--local: %w", err)
				}
			}
			o.now = time.Now()
			return runHistoryLs(dockerCLI, o)
		},
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.StringVar(&o.format, "format", formatter.TableFormatKey, `Format the output ("table", "json", or a Go template)`)
	flags.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.StringArrayVar(&o.filters, "filter", nil, `Provide filter values (e.g., "status=error")`)
	flags.BoolVar(&o.local, "local", false, "List records of builds run in the current directory only")
	addStateFlags(flags, &o.state)
	return cmd
}

func runHistoryLs(dockerCLI command.Cli, o historyLsOptions) error {
	match, err := parseRecordFilters(o.filters, o.now)
	if err != nil {
		return usageErrf("--filter: %w", err)
	}
	st, err := openRecords(dockerCLI, o.state)
	if err != nil {
		return err
	}
	recs, err := st.List()
	if err != nil {
		return err
	}
	var out []records.Record
	for _, r := range recs {
		if o.wd != "" && r.LocalDir != o.wd {
			continue
		}
		if match(&r) {
			out = append(out, r)
		}
	}
	format := o.format
	if format == formatter.TableFormatKey {
		format = historyLsTableFormat
	}
	ctx := formatter.Context{Output: dockerCLI.Out(), Format: formatter.Format(format), Trunc: !o.noTrunc}
	header := historyLsContext{}
	header.Header = formatter.SubHeaderContext{"Ref": "BUILD ID", "Name": "NAME", "Status": "STATUS", "CreatedAt": "CREATED AT", "Duration": "DURATION"}
	return ctx.Write(&header, func(format func(formatter.SubContext) error) error {
		for i := range out {
			if err := format(&historyLsContext{rec: &out[i], trunc: !o.noTrunc && ctx.Format.IsTable(), now: o.now}); err != nil {
				return err
			}
		}
		return nil
	})
}

// historyLsContext is one row of history ls, for docker's formatter.
type historyLsContext struct {
	formatter.HeaderContext
	rec   *records.Record
	trunc bool
	now   time.Time
}

// MarshalJSON is the row of --format json: buildx's keys.
func (c *historyLsContext) MarshalJSON() ([]byte, error) {
	m := map[string]any{
		"ref":          c.rec.Ref,
		"name":         c.rec.Name,
		"status":       string(c.rec.Status),
		"created_at":   c.rec.Started.Format(time.RFC3339Nano),
		"total_steps":  c.rec.TotalSteps,
		"cached_steps": c.rec.CachedSteps,
	}
	if c.rec.Completed != nil {
		m["completed_at"] = c.rec.Completed.Format(time.RFC3339Nano)
	}
	return json.Marshal(m)
}

// Ref is the record's ref.
func (c *historyLsContext) Ref() string { return c.rec.Ref }

// Name is the build's name, its beginning cut in a table.
func (c *historyLsContext) Name() string {
	if c.trunc && len(c.rec.Name) > 36 {
		return ".." + c.rec.Name[len(c.rec.Name)-34:]
	}
	return c.rec.Name
}

// Status is the record's status, capitalized as buildx shows it.
func (c *historyLsContext) Status() string {
	switch c.rec.Status {
	case records.Failed:
		return "Error"
	case "":
		return ""
	}
	s := string(c.rec.Status)
	return strings.ToUpper(s[:1]) + s[1:]
}

// CreatedAt is how long ago the build started.
func (c *historyLsContext) CreatedAt() string {
	return units.HumanDuration(c.now.Sub(c.rec.Started)) + " ago"
}

// Duration is how long the build took, "+" for a build still running.
func (c *historyLsContext) Duration() string {
	if c.rec.Completed == nil {
		if c.rec.Status == records.Running {
			return formatRecordDuration(c.rec.Duration(c.now)) + "+"
		}
		return ""
	}
	return formatRecordDuration(c.rec.Duration(c.now))
}

// formatRecordDuration is buildx's: 4.2s, or 1m 2s.
func formatRecordDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%dm %2ds", int(d.Minutes()), int(d.Seconds())%60)
}

// parseRecordFilters parses --filter values, as buildx's history ls has
// them, into one predicate (all must match).
func parseRecordFilters(filters []string, now time.Time) (func(*records.Record) bool, error) {
	var preds []func(*records.Record) bool
	for _, f := range filters {
		key, value, sep, ok := cutFilter(f)
		if !ok {
			return nil, fmt.Errorf("invalid filter %q: use key=value, e.g. status=error", f)
		}
		var p func(*records.Record) bool
		var err error
		switch key {
		case "ref", "status":
			p, err = valueFilter(f, key, value, sep)
		case "startedAt", "completedAt", "duration":
			p, err = timeFilter(f, key, value, sep, now)
		default:
			err = fmt.Errorf("unsupported filter %q: use status, ref, startedAt, completedAt or duration", f)
		}
		if err != nil {
			return nil, err
		}
		preds = append(preds, p)
	}
	return func(r *records.Record) bool {
		for _, p := range preds {
			if !p(r) {
				return false
			}
		}
		return true
	}, nil
}

// cutFilter splits "key<sep>value" at its first operator; two-character
// operators are looked for first, so that "startedAt>=1h" is ">=".
func cutFilter(s string) (key, value, sep string, ok bool) {
	i := strings.IndexAny(s, "!=<>")
	if i <= 0 {
		return "", "", "", false
	}
	for _, op := range []string{"!=", "<=", ">=", "=", "<", ">"} {
		if strings.HasPrefix(s[i:], op) {
			return s[:i], s[i+len(op):], op, true
		}
	}
	return "", "", "", false
}

func valueFilter(f, key, value, sep string) (func(*records.Record) bool, error) {
	if sep != "=" && sep != "!=" {
		return nil, fmt.Errorf("invalid operator in %q: %s takes = or !=", f, key)
	}
	get := func(r *records.Record) string { return r.Ref }
	eq := func(got string) bool { return strings.HasPrefix(got, value) }
	if key == "status" {
		switch value {
		case "error":
			value = string(records.Failed)
		case string(records.Running), string(records.Completed), string(records.Failed), string(records.Canceled), string(records.Crashed):
		default:
			return nil, fmt.Errorf("invalid status in %q: use running, completed, error, canceled or crashed", f)
		}
		get = func(r *records.Record) string { return string(r.Status) }
		eq = func(got string) bool { return got == value }
	}
	if sep == "!=" {
		return func(r *records.Record) bool { return !eq(get(r)) }, nil
	}
	return func(r *records.Record) bool { return eq(get(r)) }, nil
}

func timeFilter(f, key, value, sep string, now time.Time) (func(*records.Record) bool, error) {
	if sep == "=" || sep == "!=" {
		return nil, fmt.Errorf("invalid operator in %q: %s takes <, <=, > or >=", f, key)
	}
	var cmp int64
	var get func(*records.Record) (int64, bool)
	if key == "duration" {
		d, err := time.ParseDuration(value)
		if err != nil {
			return nil, fmt.Errorf("invalid duration in %q: e.g. 1m30s", f)
		}
		cmp = int64(d)
		get = func(r *records.Record) (int64, bool) {
			return int64(r.Duration(now)), r.Completed != nil
		}
	} else {
		t, err := filterTime(value, now)
		if err != nil {
			return nil, fmt.Errorf("invalid time in %q: a duration ago (e.g. 24h) or an RFC 3339 time", f)
		}
		cmp = t.UnixNano()
		get = func(r *records.Record) (int64, bool) {
			if key == "startedAt" {
				return r.Started.UnixNano(), true
			}
			if r.Completed == nil {
				return 0, false
			}
			return r.Completed.UnixNano(), true
		}
	}
	return func(r *records.Record) bool {
		v, ok := get(r)
		if !ok {
			return false
		}
		switch sep {
		case "<":
			return v < cmp
		case "<=":
			return v <= cmp
		case ">":
			return v > cmp
		}
		return v >= cmp
	}, nil
}

// filterTime is a duration ago, or an RFC 3339 time.
func filterTime(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errors.New("not a time")
	}
	return t, nil
}
