// Command signrelease signs any file as an agent release, for tests that
// need a release the release tools would refuse (a binary that is not the
// agent, to see an update fail): signrelease KEY VERSION OS ARCH FILE
// prints the .sig on standard output.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/release"
)

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: signrelease KEY VERSION OS ARCH FILE")
		os.Exit(2)
	}
	priv, err := release.LoadPrivateKey(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	data, err := os.ReadFile(os.Args[5])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sum := sha256.Sum256(data)
	signed, err := protocol.SignRelease(priv, protocol.ReleaseStatement{Version: os.Args[2], OS: os.Args[3], Arch: os.Args[4],
		Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(signed.Encode())
}
