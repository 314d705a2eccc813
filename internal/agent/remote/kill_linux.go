package remote

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// killTree kills every process of the shell's session: the jobs it put in
// process groups of their own and whatever they started, except daemons
// that left the session on purpose.
func killTree(cmd *exec.Cmd) {
	sid := cmd.Process.Pid
	syscall.Kill(-sid, syscall.SIGKILL)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if sessionOf(pid) == sid {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// sessionOf reads a process's session ID from /proc/<pid>/stat, or -1.
func sessionOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name is in parentheses and may hold anything; the
	// fields after its closing one are: state ppid pgrp session.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 4 {
		return -1
	}
	sid, err := strconv.Atoi(f[3])
	if err != nil {
		return -1
	}
	return sid
}
