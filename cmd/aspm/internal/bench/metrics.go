package bench

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/aspmhq/aspm/services/ingest"
)

// metrics is one reading of the services' Prometheus metrics.
type metrics map[string]*dto.MetricFamily

func read(g prometheus.Gatherer) (metrics, error) {
	fams, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	m := metrics{}
	for _, f := range fams {
		m[f.GetName()] = f
	}
	return m, nil
}

// matching returns the samples of name whose label (when not empty) has value.
func (m metrics) matching(name, label, value string) []*dto.Metric {
	f := m[name]
	if f == nil {
		return nil
	}
	var out []*dto.Metric
	for _, s := range f.GetMetric() {
		ok := label == ""
		for _, l := range s.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				ok = true
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

func (m metrics) counter(name, label, value string) float64 {
	var sum float64
	for _, s := range m.matching(name, label, value) {
		sum += s.GetCounter().GetValue()
	}
	return sum
}

// seconds is the sum of the observations of histogram name.
func (m metrics) seconds(name, label, value string) float64 {
	var sum float64
	for _, s := range m.matching(name, label, value) {
		sum += s.GetHistogram().GetSampleSum()
	}
	return sum
}

// stageSeconds are the seconds spent in each stage so far.
type stageSeconds [6]float64

func stageSums(g prometheus.Gatherer) (stageSeconds, error) {
	m, err := read(g)
	if err != nil {
		return stageSeconds{}, err
	}
	const stage = "aspm_ingest_stage_seconds"
	return stageSeconds{
		m.seconds(stage, "stage", ingest.StageFetch),
		m.seconds(stage, "stage", ingest.StageVerify),
		m.seconds(stage, "stage", ingest.StageParse),
		m.seconds(stage, "stage", ingest.StagePublish),
		m.seconds("aspm_scorer_evaluation_seconds", "", ""),
		m.seconds("aspm_scorer_store_write_seconds", "", ""),
	}, nil
}

func (s stageSeconds) minus(o stageSeconds) stageSeconds {
	for i := range s {
		s[i] -= o[i]
	}
	return s
}

func (s stageSeconds) perArtifact(n int) Stages {
	ms := func(v float64) float64 { return v * 1000 / float64(max(n, 1)) }
	return Stages{Fetch: ms(s[0]), Verify: ms(s[1]), Parse: ms(s[2]), Publish: ms(s[3]), Evaluate: ms(s[4]), Store: ms(s[5])}
}
