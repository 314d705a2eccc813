package ipc

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

func currentOwner() (Owner, error) {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return Owner{}, fmt.Errorf("token user of this process: %w", err)
	}
	return Owner{SID: tu.User.Sid.String(), UID: -1}, nil
}

func (o Owner) is(want Owner) bool { return o.SID != "" && strings.EqualFold(o.SID, want.SID) }

// serverOwner is the account of the process that created the pipe
// instance c is connected to (GetNamedPipeServerProcessId), read from that
// process, not from anything it says.
func serverOwner(c net.Conn) (Owner, int, error) {
	f, ok := c.(interface{ Fd() uintptr })
	if !ok {
		return Owner{}, 0, fmt.Errorf("not a pipe: %T", c)
	}
	var pid uint32
	if err := windows.GetNamedPipeServerProcessId(windows.Handle(f.Fd()), &pid); err != nil {
		return Owner{}, 0, fmt.Errorf("GetNamedPipeServerProcessId: %w", err)
	}
	sid, err := processSID(pid)
	if err != nil {
		return Owner{}, int(pid), err
	}
	return Owner{SID: sid, UID: -1}, int(pid), nil
}

// processSID is the user SID of process pid. Its token first (what the
// watchdog, as LocalSystem, can always open); a standard user's tray
// cannot open the token of a LocalSystem process, so on ACCESS_DENIED
// the SID comes from the terminal services' process list, which gives
// every process's user SID to any user (what Task Manager shows).
func processSID(pid uint32) (string, error) {
	sid, err := tokenSID(pid)
	if err == nil || !errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		return sid, err
	}
	wsid, werr := wtsProcessSID(pid)
	if werr != nil {
		return "", fmt.Errorf("%w; and from the process list: %w", err, werr)
	}
	return wsid, nil
}

func tokenSID(pid uint32) (string, error) {
	p, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return "", fmt.Errorf("open process %d: %w", pid, err)
	}
	defer windows.CloseHandle(p)
	var tok windows.Token
	if err := windows.OpenProcessToken(p, windows.TOKEN_QUERY, &tok); err != nil {
		return "", fmt.Errorf("open token of process %d: %w", pid, err)
	}
	defer tok.Close()
	tu, err := tok.GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("token user of process %d: %w", pid, err)
	}
	return tu.User.Sid.String(), nil
}

var procWTSEnumerateProcessesW = windows.NewLazySystemDLL("wtsapi32.dll").NewProc("WTSEnumerateProcessesW")

// wtsProcessInfo is WTS_PROCESS_INFOW.
type wtsProcessInfo struct {
	SessionID   uint32
	ProcessID   uint32
	ProcessName *uint16
	UserSid     *windows.SID
}

// wtsProcessSID finds pid in WTSEnumerateProcessesW's list.
func wtsProcessSID(pid uint32) (string, error) {
	if err := procWTSEnumerateProcessesW.Find(); err != nil {
		return "", err
	}
	var list *wtsProcessInfo
	var n uint32
	r, _, err := procWTSEnumerateProcessesW.Call(0, 0, 1, uintptr(unsafe.Pointer(&list)), uintptr(unsafe.Pointer(&n)))
	if r == 0 {
		return "", fmt.Errorf("WTSEnumerateProcessesW: %w", err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(list)))
	for _, p := range unsafe.Slice(list, n) {
		if p.ProcessID == pid {
			if p.UserSid == nil {
				return "", fmt.Errorf("process %d has no user SID in the process list", pid)
			}
			return p.UserSid.String(), nil
		}
	}
	return "", fmt.Errorf("process %d is not in the process list", pid)
}
