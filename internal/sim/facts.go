package sim

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// AgentVersion is what simulated agents report as their version, so the
// dashboard and queries can tell them from real agents.
const AgentVersion = "sim"

// platform is one kind of machine a simulated agent pretends to be.
type platform struct {
	os, osName, osVersion, arch, kernel string
	user                                string // printf pattern taking the index
}

// platforms in the proportions of a typical MSP fleet: mostly Windows
// desktops, some Linux servers, a few Macs (6:3:1 over each ten agents).
var platforms = [10]platform{
	{"windows", "Microsoft Windows 11 Pro", "10.0.22631", "amd64", "10.0.22631.4037", `SIM\user%d`},
	{"linux", "ubuntu", "24.04", "amd64", "6.8.0-45-generic", "user%d"},
	{"windows", "Microsoft Windows 10 Pro", "10.0.19045", "amd64", "10.0.19045.4780", `SIM\user%d`},
	{"windows", "Microsoft Windows Server 2022 Standard", "10.0.20348", "amd64", "10.0.20348.2700", `SIM\admin%d`},
	{"linux", "debian", "12", "amd64", "6.1.0-25-amd64", "user%d"},
	{"windows", "Microsoft Windows 11 Pro", "10.0.26100", "arm64", "10.0.26100.1742", `SIM\user%d`},
	{"darwin", "macOS", "15.1", "arm64", "24.1.0", "user%d"},
	{"windows", "Microsoft Windows 11 Enterprise", "10.0.22631", "amd64", "10.0.22631.4169", `SIM\user%d`},
	{"linux", "rhel", "9.4", "amd64", "5.14.0-427.el9.x86_64", "user%d"},
	{"windows", "Microsoft Windows 10 Enterprise", "10.0.19045", "amd64", "10.0.19045.4894", `SIM\user%d`},
}

// platformIndex is the index in platforms of the first "os/arch" one;
// -1 for "".
func platformIndex(osArch string) (int, error) {
	if osArch == "" {
		return -1, nil
	}
	var known []string
	for i, p := range platforms {
		if p.os+"/"+p.arch == osArch {
			return i, nil
		}
		if s := p.os + "/" + p.arch; !slices.Contains(known, s) {
			known = append(known, s)
		}
	}
	return 0, fmt.Errorf("platform: %q is none of %s", osArch, strings.Join(known, ", "))
}

// factsOf is the facts of agent i in this simulation: its platform and
// starting version as configured.
func (s *Sim) factsOf(i int) protocol.Facts {
	f := factsFor(s.cfg.NamePrefix, i, s.booted)
	if s.platform >= 0 {
		// Its own name and address, the chosen platform's system.
		p := platforms[s.platform]
		f.OS, f.OSName, f.OSVersion, f.Arch, f.Kernel = p.os, p.osName, p.osVersion, p.arch, p.kernel
		f.Users = []string{fmt.Sprintf(p.user, i)}
	}
	if s.cfg.Version != "" {
		f.AgentVersion = s.cfg.Version
	}
	return f
}

// hostname is the name of agent i.
func hostname(prefix string, i int) string {
	return fmt.Sprintf("%s%05d", prefix, i)
}

// factsFor builds the synthetic but valid facts of agent i. They depend
// only on the prefix, the index and the boot reference, so every hello of
// an agent carries the same facts.
func factsFor(prefix string, i int, booted time.Time) protocol.Facts {
	p := platforms[i%len(platforms)]
	// 10.0.0.0/8 has room for 16M agents; skip .0 and .255 in the last octet.
	host := uint32(i)
	ip := fmt.Sprintf("10.%d.%d.%d", host/(254*256)%256, host/254%256, host%254+1)
	return protocol.Facts{
		Hostname:     hostname(prefix, i),
		OS:           p.os,
		OSName:       p.osName,
		OSVersion:    p.osVersion,
		Arch:         p.arch,
		Kernel:       p.kernel,
		AgentVersion: AgentVersion,
		// Spread boot times over the month before the run.
		BootTime:    booted.Add(-time.Duration(i%720) * time.Hour).UTC(),
		IPAddresses: []string{ip},
		Users:       []string{fmt.Sprintf(p.user, i)},
	}
}
