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
		return nan
	}
	return ms(s[max(0, min(int(math.Ceil(p/100*float64(len(s))))-1, len(s)-1))])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// figure is one measured number, with its target when it has one; it prints as a JSON line
// {"figure","value","target","cmp","unit","met"} (value null when not measured, target and
// met null when informational).
type figure struct {
	Name   string   `json:"figure"` // e.g. latency_ratio_p99
	Value  *float64 `json:"value"`
	Target *float64 `json:"target"`
	Cmp    string   `json:"cmp,omitempty"` // "<=", ">=" or "==" against Target
	Unit   string   `json:"unit"`          // ms, ratio, KiB, per_s, count, load
	Met    *bool    `json:"met"`
	label  string   // for the table
}

type report struct {
	figs  []figure
	notes []string
}

func (r *report) add(name, label string, value float64, unit string) {
	f := figure{Name: name, label: label, Unit: unit}
	if !math.IsNaN(value) && !math.IsInf(value, 0) {
		v := math.Round(value*1000) / 1000
		f.Value = &v
	}
	r.figs = append(r.figs, f)
}

func (r *report) target(name, label string, value float64, unit, cmp string, target float64) {
	r.add(name, label, value, unit)
	f := &r.figs[len(r.figs)-1]
	met := f.Value != nil && map[string]bool{"<=": value <= target, ">=": value >= target, "==": value == target}[cmp]
	f.Target, f.Cmp, f.Met = &target, cmp, &met
}

func (r *report) note(format string, a ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, a...))
}

func fmtValue(v *float64, unit string) string {
	switch {
	case v == nil:
		return "n/a"
	case unit == "count":
		return fmt.Sprintf("%.0f", *v)
	case unit == "ratio":
		return fmt.Sprintf("%.3f", *v)
	default:
		return fmt.Sprintf("%.1f", *v)
	}
}

// print writes the table and notes, then one JSON line per figure.
func (r *report) print(w io.Writer) {
	width := 10
	for _, f := range r.figs {
		width = max(width, len(f.label))
	}
	fmt.Fprintf(w, "\n%-*s  %10s  %-6s  %-10s  %s\n%s\n", width, "figure", "value", "unit", "target", "met", strings.Repeat("-", width+40))
	for _, f := range r.figs {
		target, met := "", ""
		if f.Target != nil {
			target, met = f.Cmp+" "+fmtValue(f.Target, f.Unit), map[bool]string{true: "yes", false: "NO"}[*f.Met]
		}
		fmt.Fprintf(w, "%-*s  %10s  %-6s  %-10s  %s\n", width, f.label, fmtValue(f.Value, f.Unit), f.Unit, target, met)
	}
	for _, n := range r.notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintln(w)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, f := range r.figs {
		_ = enc.Encode(f)
	}
}
