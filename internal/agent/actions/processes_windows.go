package actions

import "strings"

// critical are the Windows processes whose end stops the machine (a blue
// screen) or every session.
var critical = map[string]bool{
	"system": true, "secure system": true, "registry": true, "memory compression": true,
	"smss.exe": true, "csrss.exe": true, "wininit.exe": true, "winlogon.exe": true,
	"services.exe": true, "lsass.exe": true, "lsaiso.exe": true,
}

// systemProcess says why ending pid would harm the machine.
func systemProcess(pid int32, name string) string {
	if pid <= 4 || critical[strings.ToLower(name)] {
		return "it is a critical Windows process; ending it stops the machine (use power instead)"
	}
	return ""
}
