package servertest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric scrapes the server's /metrics and returns the value of the
// counter or gauge named name whose labels include labels, or -1 when the
// server does not report it.
func (s *Server) Metric(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	for _, m := range s.Metrics(t, name) {
		if m.Has(labels) {
			return m.Value
		}
	}
	return -1
}

// Sample is one labelled value of a metric.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Has reports whether the sample carries every label of want.
func (m Sample) Has(want map[string]string) bool {
	for k, v := range want {
		if m.Labels[k] != v {
			return false
		}
	}
	return true
}

// Metrics scrapes /metrics and returns every sample of the counter or
// gauge named name.
func (s *Server) Metrics(t testing.TB, name string) []Sample {
	t.Helper()
	res := s.Do(t, Request{Method: "GET", Path: "/metrics"}).Want(t, http.StatusOK)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(res.Body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	mf, ok := families[name]
	if !ok {
		return nil
	}
	var out []Sample
	for _, m := range mf.GetMetric() {
		sm := Sample{Labels: map[string]string{}}
		for _, l := range m.GetLabel() {
			sm.Labels[l.GetName()] = l.GetValue()
		}
		switch {
		case m.GetGauge() != nil:
			sm.Value = m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			sm.Value = m.GetCounter().GetValue()
		default:
			continue
		}
		out = append(out, sm)
	}
	return out
}
