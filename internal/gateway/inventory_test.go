package gateway_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
)

func inventoryReport(at time.Time) protocol.Inventory {
	return protocol.Inventory{
		CollectedAt: at, Reason: protocol.InventoryStart,
		Hardware: protocol.Hardware{Manufacturer: "QEMU", MemoryBytes: 4 << 30},
		OS:       protocol.OSInfo{Name: "Debian", Version: "12"},
		Software: []protocol.Software{{Name: "curl", Version: "7.88", Source: protocol.SoftwareDpkg}},
	}
}

func gzipped(t *testing.T, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// postInventory uploads body with the given Authorization, Content-Type
// and Content-Encoding.
func (s *server) postInventory(t *testing.T, authz, contentType, encoding string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", s.URL+protocol.InventoryPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", protocol.InventoryPath, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func testInventory(t *testing.T, be servertest.Backend) {
	s := newServer(t, be, serverOptions{})
	id, secret := s.enroll(t, "inventoried")
	cred := protocol.FormatCredential(id, secret)
	// A minute ago: a report dated after the server's clock would count as
	// collected on arrival.
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	good, err := protocol.EncodeInventory(inventoryReport(at))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := json.Marshal(inventoryReport(at.Add(time.Second)))
	invalid := inventoryReport(at)
	invalid.Reason = "whim"
	invalidJSON, _ := json.Marshal(invalid)
	// A small body that expands past the decompressed limit.
	bomb := gzipped(t, bytes.Repeat([]byte(" "), protocol.MaxInventoryBytes+1))
	big := make([]byte, protocol.MaxInventoryCompressedBytes+1)

	tests := []struct {
		name          string
		authz, ct, ce string
		body          []byte
		status        int
		errContains   string
	}{
		{"gzip", cred, "application/json", "gzip", good, http.StatusNoContent, ""},
		{"plain JSON", cred, "application/json; charset=utf-8", "", plain, http.StatusNoContent, ""},
		{"no credentials", "", "application/json", "gzip", good, http.StatusUnauthorized, "invalid agent credentials"},
		{"wrong secret", protocol.FormatCredential(id, auth.NewSecret("")), "application/json", "gzip", good, http.StatusUnauthorized, "invalid agent credentials"},
		{"wrong content type", cred, "text/plain", "gzip", good, http.StatusUnsupportedMediaType, "Content-Type"},
		{"no content type", cred, "", "gzip", good, http.StatusUnsupportedMediaType, "Content-Type"},
		{"wrong encoding", cred, "application/json", "br", good, http.StatusUnsupportedMediaType, "Content-Encoding"},
		{"too large compressed", cred, "application/json", "gzip", big, http.StatusRequestEntityTooLarge, "larger than"},
		{"too large expanded", cred, "application/json", "gzip", bomb, http.StatusRequestEntityTooLarge, "larger than"},
		{"invalid report", cred, "application/json", "", invalidJSON, http.StatusBadRequest, "reason must be start, schedule or request"},
		{"not gzip", cred, "application/json", "gzip", plain, http.StatusBadRequest, "invalid inventory"},
		{"not JSON", cred, "application/json", "", []byte("{"), http.StatusBadRequest, "invalid inventory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := s.postInventory(t, tt.authz, tt.ct, tt.ce, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d; body %s", status, tt.status, body)
			}
			if tt.errContains != "" {
				if msg := errorOf(t, body); !strings.Contains(msg, tt.errContains) {
					t.Errorf("error %q, want it to contain %q", msg, tt.errContains)
				}
			}
		})
	}

	snap, err := s.db.InventorySnapshot(t.Context(), id)
	if err != nil {
		t.Fatalf("InventorySnapshot: %v", err)
	}
	if !snap.CollectedAt.Equal(at.Add(time.Second)) || snap.Hardware.Manufacturer != "QEMU" || snap.SoftwareCount != 1 {
		t.Errorf("stored snapshot = %+v, want the plain JSON upload", snap)
	}

	// Ten uploads of this agent so far, accepted or not; ten more pass,
	// then it waits, while another agent is not held up.
	for i := range 10 {
		if status, body := s.postInventory(t, cred, "application/json", "gzip", good); status != http.StatusNoContent {
			t.Fatalf("upload %d: status %d, body %s", 11+i, status, body)
		}
	}
	req, _ := http.NewRequestWithContext(t.Context(), "POST", s.URL+protocol.InventoryPath, bytes.NewReader(good))
	req.Header.Set("Authorization", cred)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Errorf("21st upload: status %d, Retry-After %q; want 429 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	otherID, otherSecret := s.enroll(t, "other")
	if status, body := s.postInventory(t, protocol.FormatCredential(otherID, otherSecret), "application/json", "gzip", good); status != http.StatusNoContent {
		t.Errorf("another agent's upload: status %d, body %s", status, body)
	}

	want := map[string]float64{"auth": 2, "inventory_bad_request": 3, "inventory_content_type": 3, "inventory_too_large": 2, "inventory_rate_limited": 1}
	if diff := cmp.Diff(want, rejected(t, s)); diff != "" {
		t.Errorf("steward_agent_rejected_total by reason (-want +got):\n%s", diff)
	}

	t.Run("wrong method", func(t *testing.T) {
		res, err := http.DefaultClient.Get(s.URL + protocol.InventoryPath)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET status %d, want 405", res.StatusCode)
		}
	})
}

// rejected returns steward_agent_rejected_total by reason, as the
// server's /metrics reports it.
func rejected(t *testing.T, s *server) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, m := range s.Metrics(t, "steward_agent_rejected_total") {
		out[m.Labels["reason"]] = m.Value
	}
	return out
}
