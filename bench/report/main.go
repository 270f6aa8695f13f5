// Command report turns bench/run's raw timings into the results table:
// min and median per case and tool, the ratio of docker-build2's median to
// each peer's, and peak RSS.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

type row struct {
	Case      string    `json:"case"`
	Tool      string    `json:"tool"`
	Runs      int       `json:"runs"`
	MinS      float64   `json:"min_s"`
	MedianS   float64   `json:"median_s"`
	RatioB2   *float64  `json:"build2_over_tool,omitempty"`
	PeakRSSKB int64     `json:"peak_rss_kb"`
	Samples   []float64 `json:"samples_s"`
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func main() {
	in := flag.String("in", "", "raw results (case, tool, run, seconds, rss_kb; tab-separated)")
	md := flag.String("md", "", "markdown output")
	js := flag.String("json", "", "JSON output")
	title := flag.String("title", "benchmark", "title")
	machine := flag.String("machine", "", "machine description")
	flag.Parse()
	if err := run(*in, *md, *js, *title, *machine); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(in, md, js, title, machine string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	type key struct{ c, t string }
	samples := map[key][]float64{}
	rss := map[key]int64{}
	var order []key
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(sc.Text(), "\t")
		if len(p) != 5 {
			continue
		}
		k := key{p[0], p[1]}
		sec, err := strconv.ParseFloat(p[3], 64)
		if err != nil {
			return fmt.Errorf("bad seconds %q", p[3])
		}
		r, _ := strconv.ParseInt(p[4], 10, 64)
		if _, ok := samples[k]; !ok {
			order = append(order, k)
		}
		samples[k] = append(samples[k], sec)
		if r > rss[k] {
			rss[k] = r
		}
	}
	var rows []row
	for _, k := range order {
		v := samples[k]
		mn := v[0]
		for _, x := range v {
			mn = min(mn, x)
		}
		rows = append(rows, row{Case: k.c, Tool: k.t, Runs: len(v), MinS: mn, MedianS: median(v), PeakRSSKB: rss[k], Samples: v})
	}
	b2 := map[string]float64{}
	for _, r := range rows {
		if r.Tool == "docker-build2" {
			b2[r.Case] = r.MedianS
		}
	}
	for i := range rows {
		if m, ok := b2[rows[i].Case]; ok && rows[i].Tool != "docker-build2" && rows[i].MedianS > 0 {
			ratio := m / rows[i].MedianS
			rows[i].RatioB2 = &ratio
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\nMachine: %s\n\n", title, machine)
	b.WriteString("| case | tool | runs | min (s) | median (s) | docker-build2 ÷ tool | peak RSS (MB) |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		ratio := ""
		if r.RatioB2 != nil {
			ratio = fmt.Sprintf("%.2f×", *r.RatioB2)
		}
		rssMB := ""
		if r.PeakRSSKB > 0 {
			rssMB = fmt.Sprintf("%.0f", float64(r.PeakRSSKB)/1024)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.3f | %.3f | %s | %s |\n", r.Case, r.Tool, r.Runs, r.MinS, r.MedianS, ratio, rssMB)
	}
	b.WriteString(perStep(rows))
	b.WriteString(pushNote(rows))
	b.WriteString("\nNotes: for buildctl+buildkitd the daemon is already running in the cached, big and concurrent cases, and started before the timer in the cold case; docker-build2 always pays its own start-up. RSS of buildctl+buildkitd is buildctl's plus the daemon's peak (VmHWM), or the daemon's alone where buildctl ran in the background (cold, concurrent, multiplatform); concurrent docker-build2 RSS is not sampled.\n")
	if err := os.WriteFile(md, []byte(b.String()), 0o644); err != nil {
		return err
	}
	dt, err := json.MarshalIndent(map[string]any{"title": title, "machine": machine, "results": rows}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(js, append(dt, '\n'), 0o644)
}

// perStep says what docker-build2's isolated network adds to each RUN step:
// the median of a runsteps-N case in the default network less the one with
// --network=host, over N steps.
func perStep(rows []row) string {
	median := map[[2]string]float64{}
	var cases []string
	for _, r := range rows {
		if n, ok := strings.CutPrefix(r.Case, "runsteps-"); ok && r.Tool == "docker-build2" {
			cases = append(cases, n)
		}
		median[[2]string{r.Case, r.Tool}] = r.MedianS
	}
	var b strings.Builder
	for _, n := range cases {
		steps, err := strconv.Atoi(n)
		host, ok := median[[2]string{"runsteps-" + n, "docker-build2 --network=host"}]
		if err != nil || steps == 0 || !ok {
			continue
		}
		isolated := median[[2]string{"runsteps-" + n, "docker-build2"}]
		fmt.Fprintf(&b, "\nThe isolated network (the default) adds %.1f ms per RUN step to --network=host (runsteps-%s: medians %.3f s and %.3f s over %d steps).\n", (isolated-host)*1000/float64(steps), n, isolated, host, steps)
	}
	return b.String()
}

// pushNote says what a push-COMPRESSION case times, when there is one.
func pushNote(rows []row) string {
	for _, r := range rows {
		if strings.HasPrefix(r.Case, "push-") {
			return "\nThe push cases time one push, to a registry on 127.0.0.1, of an image whose one layer is built and cached but was never exported: the cached solve, the layer's compression into the content store (the suffix names the compression) and the upload of the blobs and manifest; buildkitd is already running.\n"
		}
	}
	return ""
}
