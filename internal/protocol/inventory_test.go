package protocol

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func sampleInventory() Inventory {
	yes := true
	return Inventory{
		CollectedAt: time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC),
		Reason:      InventoryStart,
		Hardware: Hardware{
			Manufacturer: "Dell Inc.", Model: "OptiPlex 7090", Serial: "ABC123",
			BIOS:            BIOS{Vendor: "Dell Inc.", Version: "1.2.3", Date: "2024-01-02"},
			CPU:             CPU{Model: "Intel(R) Core(TM) i7", Cores: 8, Threads: 16},
			MemoryBytes:     16 << 30,
			Disks:           []Disk{{Name: "nvme0n1", Model: "Samsung 980", SizeBytes: 512 << 30}},
			NetworkAdapters: []NetworkAdapter{{Name: "eth0", MAC: "00:11:22:33:44:55", IPs: []string{"192.0.2.10/24", "2001:db8::1"}}},
		},
		OS: OSInfo{Name: "Ubuntu", Version: "24.04", Build: "6.8.0-45-generic", Arch: "amd64",
			LastBoot: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), PendingReboot: &yes, Timezone: "Europe/Berlin"},
		Software: []Software{
			{Name: "curl", Version: "8.5.0-2ubuntu10", Publisher: "Ubuntu Developers", InstallDate: "2026-01-05", Source: SoftwareDpkg},
			{Name: "7-Zip 23.01 (x64)", Version: "23.01", Publisher: "Igor Pavlov", Source: SoftwareRegistry64},
		},
	}
}

func TestInventoryRoundTrip(t *testing.T) {
	want := sampleInventory()
	body, err := EncodeInventory(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeInventoryBody(bytes.NewReader(body), true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// TestEncodeInventoryAsMarshal checks that the part-by-part encoding is the
// JSON json.Marshal makes, but for the space between parts.
func TestEncodeInventoryAsMarshal(t *testing.T) {
	withErrors := sampleInventory()
	withErrors.Errors = []string{"software: rpm: exit status 1"}
	noSoftware := sampleInventory()
	noSoftware.Software = []Software{}
	for name, inv := range map[string]Inventory{
		"sample": sampleInventory(), "errors": withErrors, "empty software": noSoftware, "zero": {},
	} {
		t.Run(name, func(t *testing.T) {
			body, err := EncodeInventory(inv)
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var got, raw bytes.Buffer
			if _, err := raw.ReadFrom(zr); err != nil {
				t.Fatal(err)
			}
			if err := json.Compact(&got, raw.Bytes()); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, raw.Bytes())
			}
			want, err := json.Marshal(inv)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != string(want) {
				t.Errorf("EncodeInventory gave\n%s\nwant\n%s", got.Bytes(), want)
			}
		})
	}
}

func TestEncodeInventoryTooLarge(t *testing.T) {
	inv := sampleInventory()
	long := strings.Repeat("x", 500)
	inv.Software = make([]Software, MaxInventoryBytes/500+1)
	for i := range inv.Software {
		inv.Software[i] = Software{Name: long, Source: SoftwareDpkg}
	}
	if _, err := EncodeInventory(inv); !errors.Is(err, ErrTooLarge) {
		t.Errorf("EncodeInventory of a report over %d bytes: err = %v, want ErrTooLarge", MaxInventoryBytes, err)
	}
}

func TestDecodeInventoryRejects(t *testing.T) {
	future := time.Now().Add(48 * time.Hour)
	tests := []struct {
		name   string
		change func(*Inventory)
		want   string
	}{
		{"no time", func(i *Inventory) { i.CollectedAt = time.Time{} }, "collected_at is required"},
		{"future", func(i *Inventory) { i.CollectedAt = future }, "collected_at is in the future"},
		{"reason", func(i *Inventory) { i.Reason = "whim" }, "reason must be"},
		{"control chars", func(i *Inventory) { i.Hardware.Model = "a\x00b" }, "hardware.model contains control"},
		{"long text", func(i *Inventory) { i.OS.Name = strings.Repeat("x", 600) }, "os.name is 600 bytes"},
		{"bad mac", func(i *Inventory) { i.Hardware.NetworkAdapters[0].MAC = "zz" }, "is not a MAC"},
		{"bad ip", func(i *Inventory) { i.Hardware.NetworkAdapters[0].IPs = []string{"300.1.1.1"} }, "is not an IP"},
		{"disk name", func(i *Inventory) { i.Hardware.Disks[0].Name = "" }, "disks[0].name is required"},
		{"cores", func(i *Inventory) { i.Hardware.CPU.Cores = -1 }, "cores and threads"},
		{"software name", func(i *Inventory) { i.Software[1].Name = "" }, "software[1]: name is required"},
		{"software date", func(i *Inventory) { i.Software[0].InstallDate = "20260105" }, "not YYYY-MM-DD"},
		{"software source", func(i *Inventory) { i.Software[0].Source = "brew" }, "source \"brew\" is unknown"},
		{"too much software", func(i *Inventory) { i.Software = make([]Software, MaxSoftware+1) }, "limit 20000"},
		{"boot future", func(i *Inventory) { i.OS.LastBoot = future }, "os.last_boot is in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := sampleInventory()
			tt.change(&inv)
			err := inv.Validate(time.Now())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestDecodeInventoryBodyBounds(t *testing.T) {
	// A small gzip body that expands past the limit is refused without
	// reading it all.
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write([]byte(`{"software":[`))
	zw.Write(bytes.Repeat([]byte(" "), MaxInventoryBytes+10))
	zw.Close()
	if _, err := DecodeInventoryBody(&bomb, true); !errors.Is(err, ErrTooLarge) {
		t.Errorf("gzip bomb: err = %v, want ErrTooLarge", err)
	}
	if _, err := DecodeInventoryBody(strings.NewReader("not gzip"), true); err == nil {
		t.Error("plain text with gzipped=true: want error")
	}
	if _, err := DecodeInventoryBody(strings.NewReader(`{"reason":"start"} {}`), false); err == nil {
		t.Error("trailing data: want error")
	}
}

func FuzzDecodeInventory(f *testing.F) {
	body, _ := EncodeInventory(sampleInventory())
	zr, _ := gzip.NewReader(bytes.NewReader(body))
	var raw bytes.Buffer
	raw.ReadFrom(zr)
	f.Add(raw.Bytes())
	f.Add([]byte(`{"collected_at":"2026-01-01T00:00:00Z","reason":"start","hardware":{},"os":{},"software":null}`))
	f.Add([]byte(`{"software":[{"name":"x","source":"rpm","install_date":"2026-02-30"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		inv, err := DecodeInventory(b)
		if err != nil {
			return
		}
		if err := inv.Validate(time.Now()); err != nil {
			t.Fatalf("accepted inventory fails Validate: %v", err)
		}
		if len(inv.Software) > MaxSoftware {
			t.Fatalf("accepted %d software entries", len(inv.Software))
		}
		for _, s := range inv.Software {
			if s.Name == "" || !softwareSources[s.Source] {
				t.Fatalf("accepted software %+v", s)
			}
		}
	})
}

// BenchmarkEncodeInventory encodes a report of 2,000 programs; B/op is what
// an upload allocates to build its body.
func BenchmarkEncodeInventory(b *testing.B) {
	inv := sampleInventory()
	inv.Software = make([]Software, 2000)
	for i := range inv.Software {
		inv.Software[i] = Software{Name: fmt.Sprintf("package-%d", i), Version: "1.2.3-4ubuntu0.1",
			Publisher: "Ubuntu Developers", InstallDate: "2026-01-05", Source: SoftwareDpkg}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeInventory(inv); err != nil {
			b.Fatal(err)
		}
	}
}
