package inventory

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/steward-rmm/steward/internal/protocol"
)

// dpkgPackage is one paragraph of /var/lib/dpkg/status.
type dpkgPackage struct {
	Name, Version, Arch, Maintainer, Status string
}

// maxDpkgLine bounds one line of the status file; descriptions can be long
// but not this long.
const maxDpkgLine = 1 << 20

// parseDpkgStatus reads the paragraphs of a dpkg status file and returns
// the installed packages (status "install ok installed" and the like:
// the last status word is "installed"), in file order.
func parseDpkgStatus(r io.Reader) ([]dpkgPackage, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxDpkgLine)
	var out []dpkgPackage
	var cur dpkgPackage
	flush := func() {
		st := strings.Fields(cur.Status)
		if cur.Name != "" && len(st) > 0 && st[len(st)-1] == "installed" {
			out = append(out, cur)
		}
		cur = dpkgPackage{}
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // continuation of a multi-line field
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "Package":
			cur.Name = val
		case "Version":
			cur.Version = val
		case "Architecture":
			cur.Arch = val
		case "Maintainer":
			cur.Maintainer = val
		case "Status":
			cur.Status = val
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read dpkg status: %w", err)
	}
	return out, nil
}

// dpkgSoftware turns packages into software entries. The install date is
// the modification time of the package's file list in info (in fsys,
// /var/lib/dpkg/info on a real system): <name>:<arch>.list for
// multi-arch packages, <name>.list otherwise. The publisher is the
// maintainer's name without the address.
func dpkgSoftware(pkgs []dpkgPackage, info fs.FS) []protocol.Software {
	out := make([]protocol.Software, 0, len(pkgs))
	for _, p := range pkgs {
		date := ""
		if p.Arch != "" {
			date = modDate(info, p.Name+":"+p.Arch+".list")
		}
		if date == "" {
			date = modDate(info, p.Name+".list")
		}
		out = append(out, protocol.Software{
			Name: p.Name, Version: p.Version, Publisher: personName(p.Maintainer),
			InstallDate: date, Source: protocol.SoftwareDpkg,
		})
	}
	return out
}

// personName is "Jane Doe" from "Jane Doe <jane@example.org>".
func personName(s string) string {
	if i := strings.IndexByte(s, '<'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
