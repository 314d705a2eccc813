package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Metrics messages: the agent sends samples in batches, at the interval
// its policy sets, and keeps them in a bounded on-disk buffer until the
// server acknowledges that it stored them.
const (
	TypeMetrics    = "metrics"     // agent → server: MetricsBatch (envelope ID required)
	TypeMetricsAck = "metrics_ack" // server → agent: MetricsAck, RefID = the batch's envelope ID
)

// Bounds on a metrics batch.
const (
	MaxSamplesPerBatch = 500
	MaxValuesPerSample = 512
	maxInstanceLen     = 128
)

// MetricsBatch is a batch of samples, oldest first.
type MetricsBatch struct {
	Samples []Sample `json:"samples"`
	// Dropped counts samples the agent's buffer discarded (oldest first)
	// since its last report, because the server was unreachable too long.
	Dropped int64 `json:"dropped,omitempty"`
}

// Sample is the values of one collection pass. Keys are metric names,
// with an instance after a colon for per-disk, per-interface, per-core and
// per-sensor metrics: "cpu.percent", "disk.percent:/var",
// "net.rx_bytes_per_s:eth0", "cpu.core_percent:3".
type Sample struct {
	Time   time.Time          `json:"t"`
	Values map[string]float64 `json:"v"`
}

// MetricsAck confirms a batch is stored; the agent may drop it from its
// buffer. Rejected counts samples or values refused, with reasons.
type MetricsAck struct {
	RefID    string         `json:"ref_id"`
	Stored   int            `json:"stored"`
	Rejected map[string]int `json:"rejected,omitempty"`
}

// Metric names the server accepts, and whether each takes an instance.
var metricNames = map[string]bool{
	"cpu.percent": false, "cpu.core_percent": true,
	"load.1": false, "load.5": false, "load.15": false,
	"memory.used_bytes": false, "memory.total_bytes": false, "memory.percent": false,
	"swap.used_bytes": false, "swap.total_bytes": false, "swap.percent": false,
	"disk.used_bytes": true, "disk.total_bytes": true, "disk.free_bytes": true, "disk.percent": true,
	"diskio.read_bytes_per_s": true, "diskio.write_bytes_per_s": true,
	"net.rx_bytes_per_s": true, "net.tx_bytes_per_s": true,
	"uptime.seconds": false, "processes.count": false, "users.count": false,
	"temperature.celsius": true,
}

// MetricNames lists every metric name, without instances.
func MetricNames() []string {
	out := make([]string, 0, len(metricNames))
	for n := range metricNames {
		out = append(out, n)
	}
	return out
}

// SplitMetric splits "disk.percent:/var" into name and instance and says
// whether the name is known and takes an instance exactly when it should.
func SplitMetric(key string) (name, instance string, ok bool) {
	name, instance, hasInstance := strings.Cut(key, ":")
	wantInstance, known := metricNames[name]
	if !known || hasInstance != wantInstance {
		return name, instance, false
	}
	if hasInstance && (instance == "" || len(instance) > maxInstanceLen || checkText("instance", instance) != nil) {
		return name, instance, false
	}
	return name, instance, true
}

// Rejection reasons for samples and values.
const (
	RejectUnknownMetric = "unknown_metric"
	RejectBadValue      = "bad_value"
	RejectFutureTime    = "future_time"
	RejectTooOld        = "too_old"
)

// CheckValue says why a value is impossible for its metric, or "".
func CheckValue(name string, v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return RejectBadValue
	}
	switch {
	case name == "temperature.celsius":
		if v < -100 || v > 250 {
			return RejectBadValue
		}
	case strings.HasSuffix(name, "percent"):
		if v < 0 || v > 100.5 {
			return RejectBadValue
		}
	default:
		if v < 0 {
			return RejectBadValue
		}
	}
	return ""
}

// DecodeMetricsBatch parses a batch and checks its shape. Individual
// samples and values are judged by the server (CheckValue, SplitMetric),
// which stores what is valid and counts what is not.
func DecodeMetricsBatch(data json.RawMessage) (MetricsBatch, error) {
	var b MetricsBatch
	if len(data) == 0 {
		return b, errors.New("decode metrics: missing data")
	}
	if err := strictUnmarshal(data, &b); err != nil {
		return MetricsBatch{}, fmt.Errorf("decode metrics: %w", err)
	}
	if len(b.Samples) == 0 {
		return MetricsBatch{}, errors.New("decode metrics: no samples")
	}
	if len(b.Samples) > MaxSamplesPerBatch {
		return MetricsBatch{}, fmt.Errorf("decode metrics: %d samples, limit %d", len(b.Samples), MaxSamplesPerBatch)
	}
	for i, s := range b.Samples {
		if s.Time.IsZero() {
			return MetricsBatch{}, fmt.Errorf("decode metrics: sample %d has no time", i)
		}
		if len(s.Values) > MaxValuesPerSample {
			return MetricsBatch{}, fmt.Errorf("decode metrics: sample %d has %d values, limit %d", i, len(s.Values), MaxValuesPerSample)
		}
	}
	if b.Dropped < 0 {
		return MetricsBatch{}, errors.New("decode metrics: dropped must not be negative")
	}
	return b, nil
}

// DecodeMetricsAck parses the server's acknowledgement.
func DecodeMetricsAck(data json.RawMessage) (MetricsAck, error) {
	var a MetricsAck
	if err := json.Unmarshal(data, &a); err != nil {
		return MetricsAck{}, fmt.Errorf("decode metrics_ack: %w", err)
	}
	if a.RefID == "" {
		return MetricsAck{}, errors.New("decode metrics_ack: ref_id is required")
	}
	return a, nil
}
