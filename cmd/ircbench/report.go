package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

var nan = math.NaN()

// sample is a set of durations with nearest-rank percentiles.
type sample []time.Duration

func (s sample) sorted() sample {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// pct is the nearest-rank percentile p (0 < p ≤ 100) of a sorted sample, in ms.
func (s sample) pct(p float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	i = max(0, min(i, len(s)-1))
	return ms(s[i])
}

func (s sample) max() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	return ms(s[len(s)-1])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// figure is one measured number, with its target when it has one.
type figure struct {
	Name   string   // machine name, e.g. latency_bridge_p99_ms
	Label  string   // for the table
	Value  float64  // NaN when it could not be measured
	Unit   string   // ms, ratio, KiB, per_s, count
	Target *float64 // nil: informational
	Cmp    string   // "<=", ">=" or "==" against Target
}

func (f figure) met() *bool {
	if f.Target == nil {
		return nil
	}
	var ok bool
	switch {
	case math.IsNaN(f.Value):
		ok = false
	case f.Cmp == ">=":
		ok = f.Value >= *f.Target
	case f.Cmp == "==":
		ok = f.Value == *f.Target
	default:
		ok = f.Value <= *f.Target
	}
	return &ok
}

type report struct {
	figs  []figure
	notes []string
}

func (r *report) add(name, label string, value float64, unit string) {
	r.figs = append(r.figs, figure{Name: name, Label: label, Value: value, Unit: unit})
}

func (r *report) target(name, label string, value float64, unit, cmp string, target float64) {
	t := target
	r.figs = append(r.figs, figure{Name: name, Label: label, Value: value, Unit: unit, Target: &t, Cmp: cmp})
}

func (r *report) note(format string, a ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, a...))
}

func round(v float64, digits int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func fmtValue(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case unit == "count":
		return fmt.Sprintf("%.0f", v)
	case unit == "ratio":
		return fmt.Sprintf("%.3f", v)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

// print writes the table, then one JSON line per figure.
func (r *report) print(w io.Writer) {
	width := 10
	for _, f := range r.figs {
		width = max(width, len(f.Label))
	}
	fmt.Fprintf(w, "\n%-*s  %10s  %-6s  %-10s  %s\n", width, "figure", "value", "unit", "target", "met")
	fmt.Fprintf(w, "%s\n", strings.Repeat("-", width+40))
	for _, f := range r.figs {
		target, met := "", ""
		if f.Target != nil {
			target = f.Cmp + " " + fmtValue(*f.Target, f.Unit)
			if *f.met() {
				met = "yes"
			} else {
				met = "NO"
			}
		}
		fmt.Fprintf(w, "%-*s  %10s  %-6s  %-10s  %s\n", width, f.Label, fmtValue(f.Value, f.Unit), f.Unit, target, met)
	}
	for _, n := range r.notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintln(w)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, f := range r.figs {
		type line struct {
			Figure string   `json:"figure"`
			Value  *float64 `json:"value"`
			Target *float64 `json:"target"`
			Cmp    string   `json:"cmp,omitempty"`
			Unit   string   `json:"unit"`
			Met    *bool    `json:"met"`
		}
		l := line{Figure: f.Name, Target: f.Target, Unit: f.Unit, Met: f.met()}
		if f.Target != nil {
			l.Cmp = f.Cmp
		}
		if !math.IsNaN(f.Value) && !math.IsInf(f.Value, 0) {
			v := round(f.Value, 3)
			l.Value = &v
		}
		_ = enc.Encode(l)
	}
}
