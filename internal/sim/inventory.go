package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// maxInventoryUploads bounds the inventory uploads in flight across all
// agents: each holds a gzip writer of several hundred KiB while it
// encodes, and a thousand agents asked at once must not hold a thousand.
const maxInventoryUploads = 16

// cannedPackage is a program some simulated agents have installed. Agent i
// has it when i%every == 0, in version versions[i/every%len(versions)], so
// a fleet search by name or version finds some agents and not others.
type cannedPackage struct {
	name, publisher string
	versions        []string
	every           int
	source          string // "" means the platform's own source
}

// Software by platform family, shared by every agent.
var (
	windowsSoftware = []cannedPackage{
		{name: "Google Chrome", publisher: "Google LLC", versions: []string{"131.0.6778.86", "130.0.6723.117", "129.0.6668.101"}, every: 1},
		{name: "Microsoft Edge", publisher: "Microsoft Corporation", versions: []string{"131.0.2903.70"}, every: 1},
		{name: "Microsoft 365 Apps for business - en-us", publisher: "Microsoft Corporation", versions: []string{"16.0.18129.20158", "16.0.17928.20156"}, every: 1},
		{name: "7-Zip 24.08 (x64)", publisher: "Igor Pavlov", versions: []string{"24.08"}, every: 2},
		{name: "Mozilla Firefox (x64 en-US)", publisher: "Mozilla", versions: []string{"133.0", "132.0.2"}, every: 3},
		{name: "Adobe Acrobat Reader (64-bit)", publisher: "Adobe", versions: []string{"24.004.20220", "23.008.20470"}, every: 2},
		{name: "Zoom Workplace", publisher: "Zoom Video Communications, Inc.", versions: []string{"6.2.11", "6.1.6"}, every: 4},
		{name: "Notepad++ (64-bit x64)", publisher: "Notepad++ Team", versions: []string{"8.7.1"}, every: 5},
		{name: "VLC media player", publisher: "VideoLAN", versions: []string{"3.0.21"}, every: 6},
		{name: "TeamViewer", publisher: "TeamViewer", versions: []string{"15.59.5"}, every: 7},
		{name: "Java 8 Update 431", publisher: "Oracle Corporation", versions: []string{"8.0.4310.10"}, every: 9, source: protocol.SoftwareRegistry32},
	}
	debSoftware = []cannedPackage{
		{name: "openssh-server", publisher: "Debian OpenSSH Maintainers", versions: []string{"1:9.2p1-2+deb12u3", "1:9.6p1-3ubuntu13.5"}, every: 1},
		{name: "openssl", publisher: "Debian OpenSSL Team", versions: []string{"3.0.15-1~deb12u1", "3.0.13-0ubuntu3.4"}, every: 1},
		{name: "curl", publisher: "Alessandro Ghedini", versions: []string{"7.88.1-10+deb12u8"}, every: 1},
		{name: "nginx", publisher: "Debian Nginx Maintainers", versions: []string{"1.22.1-9", "1.24.0-2ubuntu7.1"}, every: 2},
		{name: "postgresql-15", publisher: "Debian PostgreSQL Maintainers", versions: []string{"15.10-0+deb12u1"}, every: 3},
		{name: "docker-ce", publisher: "Docker", versions: []string{"5:27.3.1-1~debian.12~bookworm"}, every: 4},
	}
	rpmSoftware = []cannedPackage{
		{name: "openssh-server", publisher: "Red Hat, Inc.", versions: []string{"8.7p1-38.el9_4.4"}, every: 1},
		{name: "openssl", publisher: "Red Hat, Inc.", versions: []string{"3.0.7-27.el9"}, every: 1},
		{name: "httpd", publisher: "Red Hat, Inc.", versions: []string{"2.4.57-11.el9_4.1"}, every: 2},
		{name: "postgresql-server", publisher: "Red Hat, Inc.", versions: []string{"13.16-1.el9_4"}, every: 3},
	}
	macSoftware = []cannedPackage{
		{name: "Google Chrome", publisher: "Google LLC", versions: []string{"131.0.6778.86", "130.0.6723.117"}, every: 1},
		{name: "Slack", publisher: "Slack Technologies, LLC", versions: []string{"4.41.105"}, every: 1},
		{name: "Microsoft Word", publisher: "Microsoft Corporation", versions: []string{"16.91"}, every: 2},
		{name: "zoom.us", publisher: "Zoom Video Communications, Inc.", versions: []string{"6.2.11"}, every: 4},
		{name: "TeamViewer", publisher: "TeamViewer", versions: []string{"15.59.5"}, every: 7},
	}
)

// inventoryFor builds the synthetic inventory of agent i, consistent with
// its facts. It is built when asked for and dropped after the upload, so
// an agent holds none of it in between.
func inventoryFor(prefix string, i int, booted time.Time) protocol.Inventory {
	f := factsFor(prefix, i, booted)
	p := platforms[i%len(platforms)]
	inv := protocol.Inventory{
		CollectedAt: time.Now().UTC(),
		Reason:      protocol.InventoryRequest,
		Hardware: protocol.Hardware{
			Serial:      fmt.Sprintf("SIM%07d", i),
			CPU:         protocol.CPU{Cores: 4 << (i % 3), Threads: 8 << (i % 3)},
			MemoryBytes: uint64(8<<(i%3)) << 30,
			Disks:       []protocol.Disk{{Name: "disk0", Model: "Simulated NVMe SSD", SizeBytes: uint64(256<<(i%3)) << 30}},
			NetworkAdapters: []protocol.NetworkAdapter{{
				Name: "eth0", MAC: fmt.Sprintf("02:53:%02x:%02x:%02x:%02x", byte(i>>24), byte(i>>16), byte(i>>8), byte(i)),
				IPs: f.IPAddresses,
			}},
		},
		OS: protocol.OSInfo{Name: p.osName, Version: p.osVersion, Build: p.kernel, Arch: p.arch,
			LastBoot: f.BootTime, Timezone: "Europe/Berlin"},
	}
	pkgs, source := windowsSoftware, protocol.SoftwareRegistry64
	switch {
	case p.os == "darwin":
		pkgs, source = macSoftware, protocol.SoftwareApplications
		inv.Hardware.Manufacturer, inv.Hardware.Model = "Apple Inc.", "MacBook Pro (Mac15,6)"
	case p.os == "linux" && strings.Contains(p.osName, "rhel"):
		pkgs, source = rpmSoftware, protocol.SoftwareRPM
		inv.Hardware.Manufacturer, inv.Hardware.Model = "QEMU", "Standard PC (Q35 + ICH9, 2009)"
	case p.os == "linux":
		pkgs, source = debSoftware, protocol.SoftwareDpkg
		inv.Hardware.Manufacturer, inv.Hardware.Model = "QEMU", "Standard PC (Q35 + ICH9, 2009)"
	default:
		inv.Hardware.Manufacturer, inv.Hardware.Model = "Dell Inc.", "Latitude 5440"
	}
	installed := booted.AddDate(0, 0, -(i%90)-1).UTC().Format(time.DateOnly)
	for _, c := range pkgs {
		if i%c.every != 0 {
			continue
		}
		s := protocol.Software{Name: c.name, Version: c.versions[i/c.every%len(c.versions)], Publisher: c.publisher,
			InstallDate: installed, Source: source}
		if c.source != "" {
			s.Source = c.source
		}
		inv.Software = append(inv.Software, s)
	}
	return inv
}

// uploadInventory collects agent a's synthetic inventory and posts it to
// server as the real agent does. It returns the number of software entries
// stored.
func (s *Sim) uploadInventory(ctx context.Context, client *http.Client, a *agent, server int) (int, error) {
	select {
	case s.uploadSlots <- struct{}{}:
		defer func() { <-s.uploadSlots }()
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	inv := inventoryFor(s.cfg.NamePrefix, a.index, s.booted)
	body, err := protocol.EncodeInventory(inv)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.baseURLs[server]+protocol.InventoryPath, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", protocol.FormatCredential(a.id, a.secret))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("upload inventory: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return 0, fmt.Errorf("upload inventory: server answered %s%s", resp.Status, errorMessage(resp.Body))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	s.c.inventories.Add(1)
	return len(inv.Software), nil
}

// answerInventory uploads the inventory and answers the command on sess,
// ok with the count once the server stored it, error otherwise. It runs on
// a goroutine of its own (see serve).
func (s *Sim) answerInventory(ctx context.Context, client *http.Client, a *agent, sess *session, cmd protocol.Command) {
	res := protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK}
	n, err := s.uploadInventory(ctx, client, a, sess.server)
	if err != nil {
		res.Status, res.Error = protocol.ResultError, err.Error()
	} else {
		res.Output, _ = json.Marshal(protocol.InventoryOutput{Software: n})
	}
	a.ledger.finish(res)
	s.c.commands.Add(1)
	// To the connection the command came on, or, when that one ended
	// meanwhile, to the agent's current one: the server offered the
	// command again there and it was left to this answer.
	if sess.dead.Load() {
		if sess = a.sess.Load(); sess == nil || sess.dead.Load() {
			return // the next offer sends it from the ledger
		}
	}
	_ = s.write(sess, protocol.TypeResult, sess.seq.Add(1), res)
}
