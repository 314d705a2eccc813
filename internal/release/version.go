package release

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"

	"github.com/steward-rmm/steward/internal/protocol"
)

// pastTagRe matches what git describe appends when HEAD is not exactly a
// tag or the tree has changes: "-3-gabc1234", "-dirty". Without the
// leading "v" those would still parse as a pre-release ("1.4.0-3-gabc1234")
// that sorts before 1.4.0, so they are refused rather than published.
var pastTagRe = regexp.MustCompile(`(-\d+-g[0-9a-f]+)?(-dirty)?$`)

// VersionFromDescribe returns the release version git describe's output
// names: a tag that is a semantic version (a leading "v" is dropped), on a
// clean tree. Anything else is an error that asks for --version.
func VersionFromDescribe(describe string) (string, error) {
	d := strings.TrimSpace(describe)
	if d == "" {
		return "", errors.New("git describe found no tag: pass --version (a semantic version, e.g. 1.4.0)")
	}
	if m := pastTagRe.FindString(d); m != "" {
		return "", fmt.Errorf("git describe says %q: HEAD is not a clean, tagged commit (%s), pass --version (a semantic version, e.g. 1.4.0)", d, strings.TrimPrefix(m, "-"))
	}
	v := strings.TrimPrefix(d, "v")
	if !protocol.ValidVersion(v) {
		return "", fmt.Errorf("git describe says %q, which is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE]): pass --version", d)
	}
	return v, nil
}

// DetectVersion runs git describe in dir and returns the release version
// its tag names (VersionFromDescribe).
func DetectVersion(ctx context.Context, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", "describe", "--tags", "--dirty")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("git describe: %s: pass --version (a semantic version, e.g. 1.4.0)", strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("git describe: %w: pass --version (a semantic version, e.g. 1.4.0)", err)
	}
	return VersionFromDescribe(string(out))
}
