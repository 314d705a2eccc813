package actions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/steward-rmm/steward/internal/protocol"
)

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

func newProcTable() procTable { return winProcs{} }

// winProcs reads processes through the Win32 API: a Toolhelp snapshot
// for the list, then each process's times, memory, owner and command line
// where the agent may open it.
type winProcs struct{}

// winEntry is one process of a Toolhelp snapshot.
type winEntry struct {
	pid, ppid uint32
	exe       string
}

func snapshot() ([]winEntry, error) {
	h, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPPROCESS, 0)
	if err != nil {
		return nil, fmt.Errorf("process snapshot: %w", err)
	}
	defer windows.CloseHandle(h)
	var out []winEntry
	e := windows.ProcessEntry32{Size: uint32(unsafe.Sizeof(windows.ProcessEntry32{}))}
	for err = windows.Process32First(h, &e); err == nil; err = windows.Process32Next(h, &e) {
		out = append(out, winEntry{pid: e.ProcessID, ppid: e.ParentProcessID, exe: windows.UTF16ToString(e.ExeFile[:])})
	}
	if !errors.Is(err, windows.ERROR_NO_MORE_FILES) {
		return nil, fmt.Errorf("process snapshot: %w", err)
	}
	return out, nil
}

// seconds converts a FILETIME duration (100 ns units) to seconds.
func seconds(f windows.Filetime) float64 {
	return float64(uint64(f.HighDateTime)<<32|uint64(f.LowDateTime)) / 1e7
}

// times are a process's creation time and CPU seconds.
func times(h windows.Handle) (created time.Time, cpu float64, err error) {
	var c, exit, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(h, &c, &exit, &kernel, &user); err != nil {
		return time.Time{}, 0, err
	}
	return time.Unix(0, c.Nanoseconds()), seconds(kernel) + seconds(user), nil
}

func (winProcs) cpu(ctx context.Context) map[int32]float64 {
	entries, err := snapshot()
	if err != nil {
		return nil
	}
	out := make(map[int32]float64, len(entries))
	for _, e := range entries {
		h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, e.pid)
		if err != nil {
			continue
		}
		if _, cpu, err := times(h); err == nil {
			out[int32(e.pid)] = cpu
		}
		windows.CloseHandle(h)
	}
	return out
}

func (winProcs) list(ctx context.Context) ([]protocol.ProcessInfo, error) {
	entries, err := snapshot()
	if err != nil {
		return nil, err
	}
	users := map[string]string{} // SID → DOMAIN\account
	out := make([]protocol.ProcessInfo, 0, len(entries))
	for _, e := range entries {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		info := protocol.ProcessInfo{PID: int32(e.pid), PPID: int32(e.ppid), Name: e.exe}
		h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION|windows.PROCESS_VM_READ, false, e.pid)
		if err != nil {
			h, err = windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, e.pid)
		}
		if err == nil {
			describeWin(h, &info, users)
			windows.CloseHandle(h)
		}
		out = append(out, info)
	}
	return out, nil
}

// describeWin adds what the process handle tells; what it refuses stays
// empty.
func describeWin(h windows.Handle, info *protocol.ProcessInfo, users map[string]string) {
	if created, _, err := times(h); err == nil && created.Unix() > 0 {
		info.StartedAt = created.UTC()
	}
	var mem processMemoryCounters
	mem.cb = uint32(unsafe.Sizeof(mem))
	if r, _, _ := procGetProcessMemoryInfo.Call(uintptr(h), uintptr(unsafe.Pointer(&mem)), uintptr(mem.cb)); r != 0 {
		info.MemoryBytes = uint64(mem.workingSetSize)
	}
	info.User = owner(h, users)
	info.CommandLine = commandLine(h)
}

// processMemoryCounters is PROCESS_MEMORY_COUNTERS.
type processMemoryCounters struct {
	cb                         uint32
	pageFaultCount             uint32
	peakWorkingSetSize         uintptr
	workingSetSize             uintptr
	quotaPeakPagedPoolUsage    uintptr
	quotaPagedPoolUsage        uintptr
	quotaPeakNonPagedPoolUsage uintptr
	quotaNonPagedPoolUsage     uintptr
	pagefileUsage              uintptr
	peakPagefileUsage          uintptr
}

// K32GetProcessMemoryInfo is kernel32's name for psapi's
// GetProcessMemoryInfo since Windows 7; x/sys/windows has neither.
var procGetProcessMemoryInfo = windows.NewLazySystemDLL("kernel32.dll").NewProc("K32GetProcessMemoryInfo")

// owner is DOMAIN\account of the process's token, cached by SID.
func owner(h windows.Handle, users map[string]string) string {
	var tok windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok); err != nil {
		return ""
	}
	defer tok.Close()
	tu, err := tok.GetTokenUser()
	if err != nil {
		return ""
	}
	sid := tu.User.Sid.String()
	if name, ok := users[sid]; ok {
		return name
	}
	name := sid
	if account, domain, _, err := tu.User.Sid.LookupAccount(""); err == nil {
		name = account
		if domain != "" {
			name = domain + `\` + account
		}
	}
	users[sid] = name
	return name
}

// commandLine is the process's command line: asked of the kernel
// (ProcessCommandLineInformation, Windows 8.1 and later, which needs only
// query rights), else read from the process's memory (its PEB), as older
// Windows and wine need.
func commandLine(h windows.Handle) string {
	buf := make([]byte, 4096)
	for range 2 {
		var n uint32
		err := windows.NtQueryInformationProcess(h, windows.ProcessCommandLineInformation, unsafe.Pointer(&buf[0]), uint32(len(buf)), &n)
		if err == nil {
			return (*windows.NTUnicodeString)(unsafe.Pointer(&buf[0])).String()
		}
		if !errors.Is(err, windows.STATUS_INFO_LENGTH_MISMATCH) || n <= uint32(len(buf)) || n > 1<<20 {
			break
		}
		buf = make([]byte, n)
	}
	return pebCommandLine(h)
}

// pebCommandLine reads the command line from the process's
// RTL_USER_PROCESS_PARAMETERS, through its PEB (needs PROCESS_VM_READ).
func pebCommandLine(h windows.Handle) string {
	var pbi windows.PROCESS_BASIC_INFORMATION
	if windows.NtQueryInformationProcess(h, windows.ProcessBasicInformation, unsafe.Pointer(&pbi), uint32(unsafe.Sizeof(pbi)), nil) != nil ||
		pbi.PebBaseAddress == nil {
		return ""
	}
	var peb windows.PEB
	if !readMemory(h, uintptr(unsafe.Pointer(pbi.PebBaseAddress)), unsafe.Pointer(&peb), unsafe.Sizeof(peb)) || peb.ProcessParameters == nil {
		return ""
	}
	var params windows.RTL_USER_PROCESS_PARAMETERS
	if !readMemory(h, uintptr(unsafe.Pointer(peb.ProcessParameters)), unsafe.Pointer(&params), unsafe.Sizeof(params)) {
		return ""
	}
	n := uintptr(params.CommandLine.Length)
	if n == 0 || n > 1<<16 || params.CommandLine.Buffer == nil {
		return ""
	}
	text := make([]uint16, n/2)
	if !readMemory(h, uintptr(unsafe.Pointer(params.CommandLine.Buffer)), unsafe.Pointer(&text[0]), n/2*2) {
		return ""
	}
	return windows.UTF16ToString(text)
}

// readMemory copies size bytes at addr in the process to dst.
func readMemory(h windows.Handle, addr uintptr, dst unsafe.Pointer, size uintptr) bool {
	var got uintptr
	return windows.ReadProcessMemory(h, addr, (*byte)(dst), size, &got) == nil && got == size
}

func (winProcs) name(_ context.Context, pid int32) (string, error) {
	entries, err := snapshot()
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.pid == uint32(pid) {
			return e.exe, nil
		}
	}
	return "", errors.New("no such process")
}

func (winProcs) kill(_ context.Context, pid int32) error {
	h, err := windows.OpenProcess(windows.PROCESS_TERMINATE, false, uint32(pid))
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	return windows.TerminateProcess(h, 1)
}
