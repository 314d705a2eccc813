package inventory

import (
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// rpmQueryFormat is the --queryformat parseRPM reads: one package per
// line, tab-separated.
const rpmQueryFormat = `%{NAME}\t%{VERSION}-%{RELEASE}\t%{VENDOR}\t%{INSTALLTIME}\n`

// parseRPM reads the output of rpm -qa --queryformat rpmQueryFormat.
// gpg-pubkey entries are the repository keys rpm keeps as packages, not
// software, and are skipped; rpm's "(none)" means empty.
func parseRPM(out []byte) []protocol.Software {
	var list []protocol.Software
	for line := range strings.Lines(string(out)) {
		f := strings.Split(strings.TrimRight(line, "\r\n"), "\t")
		if len(f) != 4 || f[0] == "" || f[0] == "gpg-pubkey" {
			continue
		}
		for i := range f {
			if f[i] == "(none)" {
				f[i] = ""
			}
		}
		s := protocol.Software{Name: f[0], Version: f[1], Publisher: f[2], Source: protocol.SoftwareRPM}
		if s.Version == "(none)-(none)" || s.Version == "-" {
			s.Version = ""
		}
		if sec, err := strconv.ParseInt(f[3], 10, 64); err == nil && sec > 0 {
			s.InstallDate = time.Unix(sec, 0).UTC().Format(time.DateOnly)
		}
		list = append(list, s)
	}
	return list
}
