package ipc

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// DefaultEndpoint is the agent's named pipe.
func DefaultEndpoint() string { return `\\.\pipe\steward-agent` }

// pipeSDDL is the pipe's security descriptor, set when the pipe is
// created: a protected DACL (nothing inherited) giving SYSTEM and
// Administrators full control and interactive users (console and remote
// desktop sessions, where the tray runs) read and write without
// FILE_CREATE_PIPE_INSTANCE (0x12019b is FILE_GENERIC_READ|
// FILE_GENERIC_WRITE less FILE_APPEND_DATA, which on a pipe means "create
// an instance"): a user can connect but cannot serve a rogue instance of
// the agent's pipe. Never a NULL DACL.
const pipeSDDL = "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;0x12019b;;;IU)"

// clientAccess is what a client asks for: no more than pipeSDDL grants
// interactive users.
const clientAccess = 0x12019b

// bufSize is the pipe's buffers: one full frame each way.
const bufSize = MaxFrameBytes + 4

func listen(endpoint string) (net.Listener, error) {
	l, err := winio.ListenPipe(endpoint, &winio.PipeConfig{
		SecurityDescriptor: pipeSDDL,
		MessageMode:        false, // frames carry their own length
		InputBufferSize:    bufSize,
		OutputBufferSize:   bufSize,
	})
	if err != nil {
		// go-winio creates the first instance with FILE_CREATE: an
		// existing pipe of that name means another server.
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_PIPE_BUSY) ||
			errors.Is(err, windows.ERROR_ALREADY_EXISTS) {
			return nil, fmt.Errorf("%w: %v", ErrInUse, err)
		}
		return nil, err
	}
	burnFirstInstance(endpoint)
	return l, nil
}

// burnFirstInstance connects once and hangs up. Wine does not keep
// go-winio's first pipe instance (opened with SYNCHRONIZE access only)
// disconnected as Windows does, so the first client would land on an
// instance nobody serves and hang (go-winio #173, #313). On Windows the
// open fails with ERROR_PIPE_BUSY and changes nothing.
func burnFirstInstance(endpoint string) {
	p, err := windows.UTF16PtrFromString(endpoint)
	if err != nil {
		return
	}
	h, err := windows.CreateFile(p, 0, 0, nil, windows.OPEN_EXISTING,
		windows.SECURITY_SQOS_PRESENT|windows.SECURITY_ANONYMOUS, 0)
	if err == nil {
		windows.CloseHandle(h)
	}
}

func dial(ctx context.Context, endpoint string) (net.Conn, error) {
	return winio.DialPipeAccess(ctx, endpoint, clientAccess)
}

// peerIdentity identifies the process at the other end of the pipe from
// its token (GetNamedPipeClientProcessId, OpenProcessToken), not from
// anything the client says.
func peerIdentity(c net.Conn) (Caller, error) {
	f, ok := c.(interface{ Fd() uintptr })
	if !ok {
		return Caller{}, fmt.Errorf("not a pipe: %T", c)
	}
	var pid uint32
	if err := windows.GetNamedPipeClientProcessId(windows.Handle(f.Fd()), &pid); err != nil {
		return Caller{}, fmt.Errorf("GetNamedPipeClientProcessId: %w", err)
	}
	return processCaller(pid)
}

// processCaller reads the identity of process pid from its token. Admin is
// LocalSystem, or a member of Administrators whose token is elevated (the
// group is enabled only in an elevated token; UAC's filtered token has it
// for deny only).
func processCaller(pid uint32) (Caller, error) {
	p, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return Caller{}, fmt.Errorf("open client process %d: %w", pid, err)
	}
	defer windows.CloseHandle(p)
	var tok windows.Token
	if err := windows.OpenProcessToken(p, windows.TOKEN_QUERY, &tok); err != nil {
		return Caller{}, fmt.Errorf("open token of process %d: %w", pid, err)
	}
	defer tok.Close()
	tu, err := tok.GetTokenUser()
	if err != nil {
		return Caller{}, fmt.Errorf("token user of process %d: %w", pid, err)
	}
	sid := tu.User.Sid
	c := Caller{User: sid.String(), UID: -1, SID: sid.String(), PID: int(pid)}
	if account, domain, _, err := sid.LookupAccount(""); err == nil {
		c.User = account
		if domain != "" {
			c.User = domain + `\` + account
		}
	}
	c.Admin = sid.IsWellKnown(windows.WinLocalSystemSid) || elevatedAdmin(tok)
	return c, nil
}

func elevatedAdmin(tok windows.Token) bool {
	if !tok.IsElevated() {
		return false
	}
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		return false
	}
	groups, err := tok.GetTokenGroups()
	if err != nil {
		return false
	}
	for _, g := range groups.AllGroups() {
		if g.Attributes&windows.SE_GROUP_ENABLED != 0 && g.Sid.Equals(admins) {
			return true
		}
	}
	return false
}
