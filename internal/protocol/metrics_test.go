package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSplitMetric(t *testing.T) {
	tests := []struct {
		key  string
		ok   bool
		name string
	}{
		{"cpu.percent", true, "cpu.percent"},
		{"disk.percent:/var", true, "disk.percent"},
		{"net.rx_bytes_per_s:eth0", true, "net.rx_bytes_per_s"},
		{"disk.percent", false, "disk.percent"},  // needs an instance
		{"cpu.percent:0", false, "cpu.percent"},  // takes none
		{"disk.percent:", false, "disk.percent"}, // empty instance
		{"nope.metric", false, "nope.metric"},    // unknown
		{"disk.percent:" + strings.Repeat("x", 129), false, "disk.percent"},
		{"disk.percent:/a\nb", false, "disk.percent"},
	}
	for _, tt := range tests {
		name, _, ok := SplitMetric(tt.key)
		if ok != tt.ok || name != tt.name {
			t.Errorf("SplitMetric(%q) = %q, %v; want %q, %v", tt.key, name, ok, tt.name, tt.ok)
		}
	}
}

func TestCheckValue(t *testing.T) {
	tests := []struct {
		name string
		v    float64
		bad  bool
	}{
		{"cpu.percent", 50, false}, {"cpu.percent", -1, true}, {"cpu.percent", 101, true},
		{"memory.used_bytes", 1e12, false}, {"memory.used_bytes", -5, true},
		{"temperature.celsius", -20, false}, {"temperature.celsius", 400, true},
	}
	for _, tt := range tests {
		if got := CheckValue(tt.name, tt.v) != ""; got != tt.bad {
			t.Errorf("CheckValue(%s, %v) bad = %v, want %v", tt.name, tt.v, got, tt.bad)
		}
	}
}

func TestDecodeMetricsBatch(t *testing.T) {
	good := `{"samples":[{"t":"2026-11-22T10:00:00Z","v":{"cpu.percent":5}}],"dropped":3}`
	if b, err := DecodeMetricsBatch(json.RawMessage(good)); err != nil || len(b.Samples) != 1 || b.Dropped != 3 {
		t.Fatalf("DecodeMetricsBatch(good) = %+v, %v", b, err)
	}
	many := `{"samples":[` + strings.TrimSuffix(strings.Repeat(`{"t":"2026-11-22T10:00:00Z","v":{}},`, MaxSamplesPerBatch+1), ",") + `]}`
	for name, bad := range map[string]string{
		"empty": ``, "no samples": `{"samples":[]}`, "no time": `{"samples":[{"v":{"cpu.percent":1}}]}`,
		"negative dropped": `{"samples":[{"t":"2026-11-22T10:00:00Z","v":{}}],"dropped":-1}`,
		"too many":         many, "trailing": good + `}`, "string value": `{"samples":[{"t":"2026-11-22T10:00:00Z","v":{"cpu.percent":"5"}}]}`,
	} {
		if _, err := DecodeMetricsBatch(json.RawMessage(bad)); err == nil {
			t.Errorf("DecodeMetricsBatch(%s) = nil error, want one", name)
		}
	}
}

// FuzzDecodeMetricsBatch: the decoder of the agent's most frequent message
// must never panic and must keep its bounds.
func FuzzDecodeMetricsBatch(f *testing.F) {
	f.Add([]byte(`{"samples":[{"t":"2026-11-22T10:00:00Z","v":{"cpu.percent":5,"disk.percent:/":7}}]}`))
	f.Add([]byte(`{"samples":[{"t":"2026-11-22T10:00:00Z","v":{}}],"dropped":9}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeMetricsBatch(json.RawMessage(data))
		if err != nil {
			return
		}
		if len(b.Samples) == 0 || len(b.Samples) > MaxSamplesPerBatch || b.Dropped < 0 {
			t.Fatalf("accepted batch of %d samples, dropped %d", len(b.Samples), b.Dropped)
		}
		for _, s := range b.Samples {
			if s.Time.IsZero() || len(s.Values) > MaxValuesPerSample {
				t.Fatalf("accepted sample %+v", s)
			}
			for k, v := range s.Values {
				SplitMetric(k)
				CheckValue(k, v)
			}
		}
	})
}

// FuzzDecodePolicyAck covers the policy acknowledgement agents send.
func FuzzDecodePolicyAck(f *testing.F) {
	f.Add([]byte(`{"revision":"9f2c4e1a0b7d3e55"}`))
	f.Add([]byte(`{"revision":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := DecodePolicyAck(json.RawMessage(data))
		if err != nil {
			return
		}
		checkTokenInvariant(t, "revision", a.Revision, maxIDLen)
	})
}

// FuzzDecodePolicyUpdate covers the agent's decoder of pushed policies.
func FuzzDecodePolicyUpdate(f *testing.F) {
	f.Add([]byte(`{"revision":"r1","policy":{"metrics":{"interval":"60s"}}}`))
	f.Add([]byte(`{"revision":"r1","policy":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePolicyUpdate(json.RawMessage(data))
		if err != nil {
			return
		}
		checkTokenInvariant(t, "revision", p.Revision, maxIDLen)
		if !json.Valid(p.Policy) || p.Policy[0] != '{' {
			t.Fatalf("accepted policy %q", p.Policy)
		}
	})
}
