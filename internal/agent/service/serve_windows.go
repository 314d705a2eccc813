package service

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
)

// stopWait bounds how long a stopping service waits for its body; the SCM
// is told so in the StopPending wait hint.
const stopWait = 25 * time.Second

// maxLogBytes is where a service log is rotated (one old file kept).
const maxLogBytes = 10 << 20

// Serve runs body as role's service when the process was started by the
// SCM, and returns body's exit code with isService true; otherwise it
// returns at once with isService false and the caller runs body itself.
// Under the SCM standard error goes nowhere, so body's log goes to
// %ProgramData%\Steward\logs\<role>.log.
func Serve(ctx context.Context, r Role, body Body) (code int, isService bool) {
	if !underSCM() {
		return 0, false
	}
	log, err := openLog(filepath.Join(programData(), "Steward", "logs", string(r)+".log"))
	if err != nil {
		log = nopWriteCloser{io.Discard}
	}
	defer log.Close()
	code, err = ServeAs(ctx, ServiceName(r), log, body)
	if err != nil {
		fmt.Fprintf(log, "%s: %v\n", ServiceName(r), err)
		return ExitFail, true
	}
	return code, true
}

// ServeAs runs body under the SCM as the service name, logging to log. It
// is Serve without the check that the SCM started the process, for tests
// (wine cannot say that it did).
func ServeAs(ctx context.Context, name string, log io.Writer, body Body) (int, error) {
	code := ExitFail
	h := handlerFunc(func(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
		code = execute(ctx, log, body, req, status)
		if code == ExitOK {
			return false, 0
		}
		return true, uint32(code)
	})
	if err := svc.Run(name, h); err != nil {
		return ExitFail, fmt.Errorf("run as service %s: %w", name, err)
	}
	return code, nil
}

// handlerFunc adapts a function to svc.Handler.
type handlerFunc func(args []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32)

func (f handlerFunc) Execute(args []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	return f(args, req, status)
}

// execute reports StartPending → Running → StopPending around body, turns
// Stop and Shutdown into a cancelled context, and returns body's exit code,
// which ServeAs hands to the SCM as a service-specific exit code when it is
// not 0, so that the recovery actions fire.
func execute(ctx context.Context, log io.Writer, body Body, req <-chan svc.ChangeRequest, status chan<- svc.Status) int {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- guard(ctx, log, body) }()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case code := <-done:
			status <- svc.Status{State: svc.StopPending}
			return code
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending, WaitHint: uint32(stopWait.Milliseconds())}
				cancel()
				t := time.NewTimer(stopWait)
				defer t.Stop()
				select {
				case code := <-done:
					return code
				case <-t.C:
					// The body did not stop: the process exits anyway
					// once svc.Run returns, and says so.
					fmt.Fprintf(log, "did not stop within %s; exiting\n", stopWait)
					return ExitFail
				}
			}
		}
	}
}

// openLog opens path for appending, moving a file grown past maxLogBytes
// to path.old first.
func openLog(path string) (io.WriteCloser, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLogBytes {
		os.Rename(path, path+".old")
	}
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// underSCM reports whether the service manager started this process.
// svc.IsWindowsService also wants session 0, which wine's services are
// not in, so a process whose parent is services.exe counts as well (no one
// else starts processes from there).
func underSCM() bool {
	if is, err := svc.IsWindowsService(); err == nil && is {
		return true
	}
	parent, err := parentImage(uint32(os.Getpid()))
	return err == nil && strings.EqualFold(parent, "services.exe")
}

// parentImage returns the executable file name of pid's parent process.
func parentImage(pid uint32) (string, error) {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPPROCESS, 0)
	if err != nil {
		return "", fmt.Errorf("process snapshot: %w", err)
	}
	defer windows.CloseHandle(snap)
	names := map[uint32]string{}
	var ppid uint32
	found := false
	e := windows.ProcessEntry32{Size: uint32(unsafe.Sizeof(windows.ProcessEntry32{}))}
	for err = windows.Process32First(snap, &e); err == nil; err = windows.Process32Next(snap, &e) {
		names[e.ProcessID] = windows.UTF16ToString(e.ExeFile[:])
		if e.ProcessID == pid {
			ppid, found = e.ParentProcessID, true
		}
	}
	if !found {
		return "", fmt.Errorf("process %d is not in the snapshot", pid)
	}
	name, ok := names[ppid]
	if !ok {
		return "", fmt.Errorf("parent process %d of %d has ended", ppid, pid)
	}
	return filepath.Base(name), nil
}
