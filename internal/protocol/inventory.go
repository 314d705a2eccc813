package protocol

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
	"unicode"
	"unicode/utf8"
)

// Inventory travels outside the control channel: a full software list is
// far bigger than a control message, so the agent uploads it with an HTTP
// POST to InventoryPath, authenticated like the control channel
// (Authorization: Agent <id>.<secret>), with a gzip-compressed JSON body
// (Content-Encoding: gzip, Content-Type: application/json). The server
// answers 204 once the report and the changes it implies are stored.
const InventoryPath = "/agent/v1/inventory"

// CommandInventory asks the agent to collect and upload its inventory now.
// The agent answers once the upload is stored; output is InventoryOutput.
const CommandInventory = "inventory"

// Inventory reasons: why the agent collected this report.
const (
	InventoryStart    = "start"    // the agent process started
	InventorySchedule = "schedule" // inventory.interval elapsed
	InventoryRequest  = "request"  // a CommandInventory from the server
)

// Bounds on an inventory report. A report is untrusted input that ends up
// in the database and the dashboard, so every string and list is bounded.
const (
	// MaxInventoryBytes bounds the decompressed JSON body.
	MaxInventoryBytes = 8 << 20
	// MaxInventoryCompressedBytes bounds the body as sent.
	MaxInventoryCompressedBytes = 2 << 20
	// MaxSoftware bounds Inventory.Software.
	MaxSoftware = 20_000
	// MaxInventoryDisks bounds Hardware.Disks.
	MaxInventoryDisks = 256
	// MaxInventoryAdapters bounds Hardware.NetworkAdapters.
	MaxInventoryAdapters = 256
	// MaxInventoryErrors bounds Inventory.Errors.
	MaxInventoryErrors = 32
	// maxInventoryText bounds every text field in bytes.
	maxInventoryText = 512
)

// Inventory is one full report of an agent's hardware, operating system
// and installed software. Fields the agent could not read are left empty
// and the reason is listed in Errors; an empty field means "unknown", not
// "none".
type Inventory struct {
	CollectedAt time.Time  `json:"collected_at"`
	Reason      string     `json:"reason"`
	Hardware    Hardware   `json:"hardware"`
	OS          OSInfo     `json:"os"`
	Software    []Software `json:"software"`
	// Errors lists the parts that could not be collected, e.g.
	// "software: rpm: exit status 1", so a missing part is explained.
	Errors []string `json:"errors,omitempty"`
}

// Hardware describes the machine.
type Hardware struct {
	Manufacturer    string           `json:"manufacturer,omitempty"`
	Model           string           `json:"model,omitempty"`
	Serial          string           `json:"serial,omitempty"`
	BIOS            BIOS             `json:"bios"`
	CPU             CPU              `json:"cpu"`
	MemoryBytes     uint64           `json:"memory_bytes,omitempty"`
	Disks           []Disk           `json:"disks,omitempty"`
	NetworkAdapters []NetworkAdapter `json:"network_adapters,omitempty"`
}

// BIOS is the firmware's vendor, version and release date as reported.
type BIOS struct {
	Vendor  string `json:"vendor,omitempty"`
	Version string `json:"version,omitempty"`
	Date    string `json:"date,omitempty"`
}

// CPU describes the processors. Cores and Threads count the whole machine.
type CPU struct {
	Model   string `json:"model,omitempty"`
	Cores   int    `json:"cores,omitempty"`
	Threads int    `json:"threads,omitempty"`
}

// Disk is one physical disk (not a partition or filesystem).
type Disk struct {
	Name      string `json:"name"`
	Model     string `json:"model,omitempty"`
	Serial    string `json:"serial,omitempty"`
	SizeBytes uint64 `json:"size_bytes,omitempty"`
}

// NetworkAdapter is one network interface with a hardware address.
type NetworkAdapter struct {
	Name string   `json:"name"`
	MAC  string   `json:"mac,omitempty"`
	IPs  []string `json:"ips,omitempty"`
}

// OSInfo describes the operating system.
type OSInfo struct {
	// Name is the product name, e.g. "Windows 11 Pro", "Ubuntu", "macOS".
	Name string `json:"name,omitempty"`
	// Version is the marketing or release version, e.g. "23H2", "24.04", "15.1".
	Version string `json:"version,omitempty"`
	// Build is the build or kernel version, e.g. "22631.4460", "6.8.0-45-generic".
	Build       string    `json:"build,omitempty"`
	Arch        string    `json:"arch,omitempty"`
	InstallDate time.Time `json:"install_date,omitzero"`
	LastBoot    time.Time `json:"last_boot,omitzero"`
	// PendingReboot is nil when the agent cannot tell.
	PendingReboot *bool  `json:"pending_reboot,omitempty"`
	Timezone      string `json:"timezone,omitempty"`
}

// Software is one installed program or package.
type Software struct {
	Name      string `json:"name"`
	Version   string `json:"version,omitempty"`
	Publisher string `json:"publisher,omitempty"`
	// InstallDate is a calendar date, YYYY-MM-DD, when the source records one.
	InstallDate string `json:"install_date,omitempty"`
	// Source is where the entry was found: one of the Software* constants.
	Source string `json:"source"`
}

// Software sources.
const (
	SoftwareRegistry64   = "registry64"    // Windows uninstall key, 64-bit view (or the only view)
	SoftwareRegistry32   = "registry32"    // Windows uninstall key, 32-bit view (WOW6432Node)
	SoftwareRegistryUser = "registry_user" // Windows per-user uninstall key
	SoftwareDpkg         = "dpkg"
	SoftwareRPM          = "rpm"
	SoftwareApplications = "applications" // macOS application bundles
)

var softwareSources = map[string]bool{
	SoftwareRegistry64: true, SoftwareRegistry32: true, SoftwareRegistryUser: true,
	SoftwareDpkg: true, SoftwareRPM: true, SoftwareApplications: true,
}

// InventoryOutput is the result of a CommandInventory.
type InventoryOutput struct {
	Software int `json:"software"`
}

// EncodeInventory returns the gzip-compressed JSON body of an upload. The
// JSON goes into the compressor as it is produced, one software entry at a
// time, so the uncompressed report (about ten times the body) is never
// held in memory whole: the agent must not weigh on the machine it reports.
func EncodeInventory(inv Inventory) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := writeInventory(&limitWriter{w: zw, left: MaxInventoryBytes}, inv); err != nil {
		return nil, fmt.Errorf("encode inventory: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("encode inventory: %w", err)
	}
	if buf.Len() > MaxInventoryCompressedBytes {
		return nil, fmt.Errorf("encode inventory: %d bytes compressed, limit %d", buf.Len(), MaxInventoryCompressedBytes)
	}
	return buf.Bytes(), nil
}

// writeInventory writes inv as the JSON object json.Marshal makes of it
// (same fields, names and order), part by part; each part is followed by a
// newline, which JSON reads as space.
func writeInventory(w io.Writer, inv Inventory) error {
	enc := json.NewEncoder(w)
	var err error
	put := func(s string) {
		if err == nil {
			_, err = io.WriteString(w, s)
		}
	}
	val := func(v any) {
		if err == nil {
			err = enc.Encode(v)
		}
	}
	put(`{"collected_at":`)
	val(inv.CollectedAt)
	put(`,"reason":`)
	val(inv.Reason)
	put(`,"hardware":`)
	val(inv.Hardware)
	put(`,"os":`)
	val(inv.OS)
	put(`,"software":`)
	if inv.Software == nil {
		put("null")
	} else {
		put("[")
		for i := range inv.Software {
			if i > 0 {
				put(",")
			}
			val(&inv.Software[i]) // a pointer: no copy boxed per entry
		}
		put("]")
	}
	if len(inv.Errors) > 0 {
		put(`,"errors":`)
		val(inv.Errors)
	}
	put("}")
	return err
}

// limitWriter fails a write that would take what it has written past
// left bytes.
type limitWriter struct {
	w    io.Writer
	left int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if len(p) > l.left {
		return 0, fmt.Errorf("larger than %d bytes: %w", MaxInventoryBytes, ErrTooLarge)
	}
	l.left -= len(p)
	return l.w.Write(p)
}

// DecodeInventoryBody reads an upload body: gzip-compressed when gzipped is
// true, otherwise plain JSON. It bounds both sizes (a small body cannot
// expand into a large one) and validates the report.
func DecodeInventoryBody(r io.Reader, gzipped bool) (Inventory, error) {
	r = io.LimitReader(r, MaxInventoryCompressedBytes+1)
	if gzipped {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return Inventory{}, fmt.Errorf("decode inventory: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	raw, err := io.ReadAll(io.LimitReader(r, MaxInventoryBytes+1))
	if err != nil {
		return Inventory{}, fmt.Errorf("decode inventory: %w", err)
	}
	if len(raw) > MaxInventoryBytes || (!gzipped && len(raw) > MaxInventoryCompressedBytes) {
		return Inventory{}, ErrTooLarge
	}
	return DecodeInventory(raw)
}

// DecodeInventory parses and validates an inventory report.
func DecodeInventory(raw []byte) (Inventory, error) {
	if len(raw) > MaxInventoryBytes {
		return Inventory{}, ErrTooLarge
	}
	var inv Inventory
	if err := strictUnmarshal(raw, &inv); err != nil {
		return Inventory{}, fmt.Errorf("decode inventory: %w", err)
	}
	if err := inv.Validate(time.Now()); err != nil {
		return Inventory{}, fmt.Errorf("decode inventory: %w", err)
	}
	return inv, nil
}

// Validate checks every bound of a report collected no later than a day
// after now.
func (inv Inventory) Validate(now time.Time) error {
	if inv.CollectedAt.IsZero() {
		return errors.New("collected_at is required")
	}
	if inv.CollectedAt.After(now.Add(24 * time.Hour)) {
		return errors.New("collected_at is in the future")
	}
	switch inv.Reason {
	case InventoryStart, InventorySchedule, InventoryRequest:
	default:
		return fmt.Errorf("reason must be start, schedule or request, got %q", truncate(inv.Reason))
	}
	if err := inv.Hardware.validate(); err != nil {
		return err
	}
	if err := inv.OS.validate(now); err != nil {
		return err
	}
	if len(inv.Software) > MaxSoftware {
		return fmt.Errorf("software has %d entries, limit %d", len(inv.Software), MaxSoftware)
	}
	for i, s := range inv.Software {
		if err := s.validate(); err != nil {
			return fmt.Errorf("software[%d]: %w", i, err)
		}
	}
	if len(inv.Errors) > MaxInventoryErrors {
		return fmt.Errorf("errors has %d entries, limit %d", len(inv.Errors), MaxInventoryErrors)
	}
	for _, e := range inv.Errors {
		if err := checkInventoryText("errors", e); err != nil {
			return err
		}
	}
	return nil
}

func (h Hardware) validate() error {
	texts := []struct{ name, v string }{
		{"hardware.manufacturer", h.Manufacturer}, {"hardware.model", h.Model}, {"hardware.serial", h.Serial},
		{"hardware.bios.vendor", h.BIOS.Vendor}, {"hardware.bios.version", h.BIOS.Version}, {"hardware.bios.date", h.BIOS.Date},
		{"hardware.cpu.model", h.CPU.Model},
	}
	for _, t := range texts {
		if err := checkInventoryText(t.name, t.v); err != nil {
			return err
		}
	}
	if h.CPU.Cores < 0 || h.CPU.Cores > 1<<16 || h.CPU.Threads < 0 || h.CPU.Threads > 1<<16 {
		return errors.New("hardware.cpu: cores and threads must be between 0 and 65536")
	}
	if len(h.Disks) > MaxInventoryDisks {
		return fmt.Errorf("hardware.disks has %d entries, limit %d", len(h.Disks), MaxInventoryDisks)
	}
	for i, d := range h.Disks {
		if d.Name == "" {
			return fmt.Errorf("hardware.disks[%d].name is required", i)
		}
		for _, t := range []struct{ name, v string }{{"name", d.Name}, {"model", d.Model}, {"serial", d.Serial}} {
			if err := checkInventoryText(fmt.Sprintf("hardware.disks[%d].%s", i, t.name), t.v); err != nil {
				return err
			}
		}
	}
	if len(h.NetworkAdapters) > MaxInventoryAdapters {
		return fmt.Errorf("hardware.network_adapters has %d entries, limit %d", len(h.NetworkAdapters), MaxInventoryAdapters)
	}
	for i, a := range h.NetworkAdapters {
		if a.Name == "" {
			return fmt.Errorf("hardware.network_adapters[%d].name is required", i)
		}
		if err := checkInventoryText(fmt.Sprintf("hardware.network_adapters[%d].name", i), a.Name); err != nil {
			return err
		}
		if a.MAC != "" {
			if _, err := net.ParseMAC(a.MAC); err != nil {
				return fmt.Errorf("hardware.network_adapters[%d].mac %q is not a MAC address", i, truncate(a.MAC))
			}
		}
		if len(a.IPs) > MaxIPs {
			return fmt.Errorf("hardware.network_adapters[%d].ips has %d entries, limit %d", i, len(a.IPs), MaxIPs)
		}
		for _, ip := range a.IPs {
			if !validIPOrPrefix(ip) {
				return fmt.Errorf("hardware.network_adapters[%d].ips: %q is not an IP address", i, truncate(ip))
			}
		}
	}
	return nil
}

// validIPOrPrefix accepts "192.0.2.1" and "192.0.2.1/24".
func validIPOrPrefix(s string) bool {
	if net.ParseIP(s) != nil {
		return true
	}
	_, _, err := net.ParseCIDR(s)
	return err == nil
}

func (o OSInfo) validate(now time.Time) error {
	for _, t := range []struct{ name, v string }{
		{"os.name", o.Name}, {"os.version", o.Version}, {"os.build", o.Build}, {"os.arch", o.Arch}, {"os.timezone", o.Timezone},
	} {
		if err := checkInventoryText(t.name, t.v); err != nil {
			return err
		}
	}
	late := now.Add(24 * time.Hour)
	if o.InstallDate.After(late) {
		return errors.New("os.install_date is in the future")
	}
	if o.LastBoot.After(late) {
		return errors.New("os.last_boot is in the future")
	}
	return nil
}

func (s Software) validate() error {
	if s.Name == "" {
		return errors.New("name is required")
	}
	for _, t := range []struct{ name, v string }{{"name", s.Name}, {"version", s.Version}, {"publisher", s.Publisher}} {
		if err := checkInventoryText(t.name, t.v); err != nil {
			return err
		}
	}
	if s.InstallDate != "" {
		if _, err := time.Parse(time.DateOnly, s.InstallDate); err != nil {
			return fmt.Errorf("install_date %q is not YYYY-MM-DD", truncate(s.InstallDate))
		}
	}
	if !softwareSources[s.Source] {
		return fmt.Errorf("source %q is unknown", truncate(s.Source))
	}
	return nil
}

func checkInventoryText(name, v string) error {
	if len(v) > maxInventoryText {
		return fmt.Errorf("%s is %d bytes, limit %d", name, len(v), maxInventoryText)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s is not valid UTF-8", name)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s contains control characters", name)
		}
	}
	return nil
}
