// Package metrics is the daemon's Prometheus registry and /metrics handler, and a reader of
// scrapes for tests and benchmarks. The collectors themselves belong to the packages that
// count (ircd.NewMetrics, bridge.NewMetrics): each registers into the registry it is given,
// and there is no global registry.
package metrics

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/directus-ircd/directus-ircd/internal/version"
)

// NewRegistry is a registry with the Go runtime and process collectors (go_*, process_*) and
// directus_ircd_build_info{version,commit,goversion} 1, ready for ircd.NewMetrics and
// bridge.NewMetrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	v := version.Get()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "directus_ircd_build_info",
		Help:        "The running build: version, commit and Go version as labels; always 1.",
		ConstLabels: prometheus.Labels{"version": v.Version, "commit": v.Commit, "goversion": v.GoVersion},
	})
	build.Set(1)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), build)
	return reg
}

// Handler serves g in the Prometheus text format (or OpenMetrics, when the scraper asks):
// mount it as GET /metrics on the health listener.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// Values is one scrape, flattened: `name{label="value",…}` (labels sorted, as in the text
// format) → value. A histogram gives name_count and name_sum; a summary likewise.
type Values map[string]float64

// Gather reads g's current values.
func Gather(g prometheus.Gatherer) (Values, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("metrics: gather: %w", err)
	}
	return fromFamilies(mfs), nil
}

// Parse reads a scrape in the Prometheus text format, e.g. the body of GET /metrics.
func Parse(r io.Reader) (Values, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("metrics: parse: %w", err)
	}
	return fromFamilies(slices.Collect(maps.Values(mfs))), nil
}

// fromFamilies flattens metric families.
func fromFamilies(mfs []*dto.MetricFamily) Values {
	v := Values{}
	for _, mf := range mfs {
		v.add(mf)
	}
	return v
}

func (v Values) add(mf *dto.MetricFamily) {
	for _, m := range mf.GetMetric() {
		labels := make([]string, 0, len(m.GetLabel()))
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetName()+"="+strconv.Quote(l.GetValue()))
		}
		slices.Sort(labels)
		key := func(suffix string) string {
			if len(labels) == 0 {
				return mf.GetName() + suffix
			}
			return mf.GetName() + suffix + "{" + strings.Join(labels, ",") + "}"
		}
		switch {
		case m.Counter != nil:
			v[key("")] = m.Counter.GetValue()
		case m.Gauge != nil:
			v[key("")] = m.Gauge.GetValue()
		case m.Untyped != nil:
			v[key("")] = m.Untyped.GetValue()
		case m.Histogram != nil:
			v[key("_count")] = float64(m.Histogram.GetSampleCount())
			v[key("_sum")] = m.Histogram.GetSampleSum()
		case m.Summary != nil:
			v[key("_count")] = float64(m.Summary.GetSampleCount())
			v[key("_sum")] = m.Summary.GetSampleSum()
		}
	}
}

// Has says whether the scrape has the series key.
func (v Values) Has(key string) bool {
	_, ok := v[key]
	return ok
}
