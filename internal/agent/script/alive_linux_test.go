package script

// alive reports whether pid is a live process (a zombie is not).
func alive(pid string) bool {
	state, _, ok := procStat(pid)
	return ok && state != 'Z' && state != 'X'
}
