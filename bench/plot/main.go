// Command plot draws bench/run's scaling cases as an SVG: the median time
// of each tool against the number of context files (first build) and
// against the number of concurrent builds, both axes logarithmic, with a
// dashed line of slope 1 through each tool's first point (cost growing as
// fast as the work).
//
// It reads the raw results bench/run writes (case, tool, run, seconds,
// rss_kb; tab-separated) and takes the rows of cases "scale-files-N" and
// "scale-builds-N".
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

func main() {
	in := flag.String("in", "", "raw results (tab-separated)")
	out := flag.String("svg", "", "SVG output")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
}

// series is one tool's medians by x.
type series map[float64]float64

func run(in, out string) error {
	panels, err := read(in)
	if err != nil {
		return err
	}
	if len(panels["files"])+len(panels["builds"]) == 0 {
		return fmt.Errorf("%s has no scale-files-N or scale-builds-N rows", in)
	}
	var b strings.Builder
	const w, h = 900, 380
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	panel(&b, 0, "first build, context of N files", "files", panels["files"])
	panel(&b, w/2, "N builds at once on one state", "builds", panels["builds"])
	b.WriteString("</svg>\n")
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

// read returns, per panel ("files", "builds"), each tool's median seconds
// by N.
func read(in string) (map[string]map[string]series, error) {
	f, err := os.Open(in)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	samples := map[string]map[string]map[float64][]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) < 4 {
			continue
		}
		var panel string
		var nStr string
		switch {
		case strings.HasPrefix(fs[0], "scale-files-"):
			panel, nStr = "files", strings.TrimPrefix(fs[0], "scale-files-")
		case strings.HasPrefix(fs[0], "scale-builds-"):
			panel, nStr = "builds", strings.TrimPrefix(fs[0], "scale-builds-")
		default:
			continue
		}
		n, err := strconv.ParseFloat(nStr, 64)
		if err != nil {
			return nil, fmt.Errorf("case %q: %w", fs[0], err)
		}
		s, err := strconv.ParseFloat(fs[3], 64)
		if err != nil {
			return nil, fmt.Errorf("case %q: seconds %q: %w", fs[0], fs[3], err)
		}
		if samples[panel] == nil {
			samples[panel] = map[string]map[float64][]float64{}
		}
		if samples[panel][fs[1]] == nil {
			samples[panel][fs[1]] = map[float64][]float64{}
		}
		samples[panel][fs[1]][n] = append(samples[panel][fs[1]][n], s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := map[string]map[string]series{}
	for p, tools := range samples {
		out[p] = map[string]series{}
		for tool, byN := range tools {
			out[p][tool] = series{}
			for n, v := range byN {
				out[p][tool][n] = median(v)
			}
		}
	}
	return out, nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

var colors = []string{"#d62728", "#1f77b4", "#2ca02c", "#9467bd"}

// panel draws one log-log chart at x offset x0.
func panel(b *strings.Builder, x0 int, title, unit string, tools map[string]series) {
	const pw, ph, left, top, bottom = 450, 380, 60, 40, 50
	cw, ch := pw-left-30, ph-top-bottom
	fmt.Fprintf(b, `<text x="%d" y="20" font-weight="bold">%s</text>`+"\n", x0+left, title)
	if len(tools) == 0 {
		fmt.Fprintf(b, `<text x="%d" y="%d">not measured</text>`+"\n", x0+left, top+ch/2)
		return
	}
	names := make([]string, 0, len(tools))
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for name, s := range tools {
		names = append(names, name)
		for x, y := range s {
			xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
			ymin, ymax = math.Min(ymin, y), math.Max(ymax, y)
		}
	}
	sort.Strings(names)
	// Room for the slope-1 guides: they span xmax/xmin.
	ymax = math.Max(ymax, ymin*xmax/xmin)
	lx := math.Log10
	if xmax == xmin {
		xmax = xmin * 10
	}
	ylo, yhi := math.Floor(lx(ymin)), math.Ceil(lx(ymax))
	if yhi == ylo {
		yhi++
	}
	px := func(x float64) float64 {
		return float64(x0+left) + (lx(x)-lx(xmin))/(lx(xmax)-lx(xmin))*float64(cw)
	}
	py := func(y float64) float64 { return float64(top+ch) - (lx(y)-ylo)/(yhi-ylo)*float64(ch) }
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", x0+left, top, cw, ch)
	for e := ylo; e <= yhi; e++ {
		y := py(math.Pow(10, e))
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", x0+left, x0+left+cw, y, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%gs</text>`+"\n", x0+left-5, y+4, math.Pow(10, e))
	}
	xs := map[float64]bool{}
	for _, s := range tools {
		for x := range s {
			xs[x] = true
		}
	}
	for x := range xs {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%g</text>`+"\n", px(x), top+ch+15, x)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">%s (log)</text>`+"\n", x0+left+cw/2, top+ch+32, unit)
	for i, name := range names {
		s := tools[name]
		c := colors[i%len(colors)]
		keys := make([]float64, 0, len(s))
		for x := range s {
			keys = append(keys, x)
		}
		sort.Float64s(keys)
		var pts []string
		for _, x := range keys {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(x), py(s[x])))
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(x), py(s[x]), c)
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(pts, " "), c)
		// Slope 1 from the first point: linear growth.
		x1, y1 := keys[0], s[keys[0]]
		x2 := keys[len(keys)-1]
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="4 3" opacity="0.6"/>`+"\n",
			px(x1), py(y1), px(x2), py(y1*x2/x1), c)
		fmt.Fprintf(b, `<text x="%d" y="%d" fill="%s">%s</text>`+"\n", x0+left+8, top+16+16*i, c, name)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" fill="#666">dashed: time ∝ N</text>`+"\n", x0+left+8, top+16+16*len(names))
}
