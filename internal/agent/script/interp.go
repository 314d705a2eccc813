package script

import (
	"fmt"
	"os/exec"
	"strings"
)

// spec says how a language runs on this OS: the first of names found is
// the interpreter, given flags, then the script file, then its arguments.
type spec struct {
	names []string
	ext   string
	flags []string
	// cmdLine, if set, builds the whole command line itself (cmd.exe,
	// which does not parse an argument vector; Windows only).
	cmdLine func(exe, file string, args []string) (string, error)
	// absent explains a language this OS never has.
	absent string
}

// interp is a language resolved to an interpreter on this machine.
type interp struct {
	path string
	spec
}

// interpreter finds lang's interpreter, or says clearly that there is none.
func (r *Runner) interpreter(lang string) (interp, error) {
	sp, ok := languages[lang]
	if !ok || sp.absent != "" {
		why := sp.absent
		if why == "" {
			why = "not on this OS"
		}
		return interp{}, fmt.Errorf("%w for %s scripts: %s", ErrNoInterpreter, lang, why)
	}
	for _, name := range sp.names {
		if p, err := r.lookPath(name); err == nil {
			return interp{path: p, spec: sp}, nil
		}
	}
	return interp{}, fmt.Errorf("%w: no %s on this machine", ErrNoInterpreter, strings.Join(sp.names, " or "))
}

// command sets cmd's arguments: the interpreter's flags, the script file,
// then args, each its own argument (never spliced into a shell string).
func (in interp) command(cmd *exec.Cmd, file string, args []string) error {
	if in.cmdLine != nil {
		line, err := in.cmdLine(in.path, file, args)
		if err != nil {
			return err
		}
		setCmdLine(cmd, line)
		return nil
	}
	cmd.Args = append(append(append([]string{in.path}, in.flags...), file), args...)
	return nil
}
