package protocol

import (
	"strings"
	"testing"
	"time"
)

func TestDecodeScheduleDue(t *testing.T) {
	for _, tc := range []struct {
		name, json, err string
	}{
		{"ok", `{"name": "nightly", "occurrence": "2026-12-24T18:00:00", "due": "2026-12-24T17:00:00Z"}`, ""},
		{"no name", `{"occurrence": "2026-12-24T18:00:00", "due": "2026-12-24T17:00:00Z"}`, "name must be 1 to 64"},
		{"bad name", `{"name": "Nightly", "occurrence": "2026-12-24T18:00:00", "due": "2026-12-24T17:00:00Z"}`, "lower-case"},
		{"long name", `{"name": "` + strings.Repeat("a", 65) + `", "occurrence": "2026-12-24T18:00:00", "due": "2026-12-24T17:00:00Z"}`, "1 to 64"},
		{"zone in occurrence", `{"name": "n", "occurrence": "2026-12-24T18:00:00Z", "due": "2026-12-24T17:00:00Z"}`, "must be a local time"},
		{"fraction", `{"name": "n", "occurrence": "2026-12-24T18:00:00.5", "due": "2026-12-24T17:00:00Z"}`, "must be a local time"},
		{"no due", `{"name": "n", "occurrence": "2026-12-24T18:00:00"}`, "due must be a time"},
		{"trailing", `{"name": "n", "occurrence": "2026-12-24T18:00:00", "due": "2026-12-24T17:00:00Z"} {}`, "trailing data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := DecodeScheduleDue([]byte(tc.json))
			if tc.err == "" {
				if err != nil || d.Name != "nightly" || !d.Due.Equal(time.Date(2026, 12, 24, 17, 0, 0, 0, time.UTC)) {
					t.Fatalf("DecodeScheduleDue = %+v, %v", d, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("DecodeScheduleDue error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func TestDecodeScheduleAck(t *testing.T) {
	for _, tc := range []struct {
		name, json, err string
	}{
		{"job", `{"name": "n", "occurrence": "2026-12-24T18:00:00", "job_id": "j1"}`, ""},
		{"error", `{"name": "n", "occurrence": "2026-12-24T18:00:00", "error": "no such schedule"}`, ""},
		{"neither", `{"name": "n", "occurrence": "2026-12-24T18:00:00"}`, "give job_id or error"},
		{"both", `{"name": "n", "occurrence": "2026-12-24T18:00:00", "job_id": "j", "error": "e"}`, "give job_id or error"},
		{"bad job", `{"name": "n", "occurrence": "2026-12-24T18:00:00", "job_id": "a b"}`, "invalid characters"},
		{"bad error", `{"name": "n", "occurrence": "2026-12-24T18:00:00", "error": "a\u0007"}`, "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeScheduleAck([]byte(tc.json))
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("DecodeScheduleAck error %v, want %q", err, tc.err)
			}
		})
	}
}

func FuzzDecodeScheduleDue(f *testing.F) {
	f.Add([]byte(`{"name": "nightly", "occurrence": "2026-12-24T18:00:00", "due": "2026-12-24T17:00:00Z"}`))
	f.Add([]byte(`{"name": "", "occurrence": "2026-02-30T18:00:00", "due": "0001-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeScheduleDue(b)
		if err != nil {
			return
		}
		checkTokenInvariant(t, "name", d.Name, maxScheduleName)
		if w, err := time.Parse(OccurrenceLayout, d.Occurrence); err != nil || w.Format(OccurrenceLayout) != d.Occurrence {
			t.Fatalf("accepted occurrence %q", d.Occurrence)
		}
		if d.Due.IsZero() {
			t.Fatal("accepted a zero due")
		}
	})
}

func FuzzDecodeScheduleAck(f *testing.F) {
	f.Add([]byte(`{"name": "nightly", "occurrence": "2026-12-24T18:00:00", "job_id": "j1"}`))
	f.Add([]byte(`{"name": "nightly", "occurrence": "2026-12-24T18:00:00", "error": "refused"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeScheduleAck(b)
		if err != nil {
			return
		}
		checkTokenInvariant(t, "name", a.Name, maxScheduleName)
		if (a.JobID == "") == (a.Error == "") || len(a.Error) > maxScheduleError {
			t.Fatalf("accepted %+v", a)
		}
		if a.JobID != "" {
			checkTokenInvariant(t, "job_id", a.JobID, maxIDLen)
		}
	})
}
