package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// sumsFile is the checksum list written beside the downloads, in the
// format `sha256sum -c` reads.
const sumsFile = "SHA256SUMS"

// runSums is `steward-package sums DIR`: hash every agent binary and
// package in DIR into DIR/SHA256SUMS.
func runSums(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return usageError("want one directory")
	}
	dir := args[0]
	n, err := writeSums(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d files\n", filepath.Join(dir, sumsFile), n)
	return nil
}

// writeSums replaces dir/SHA256SUMS with the hashes of the steward-agent
// files in dir, sorted by name, and returns how many there were.
func writeSums(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("sums: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), "steward-agent") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		sum, err := fileSHA256(filepath.Join(dir, n))
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, n)
	}
	tmp := filepath.Join(dir, "."+sumsFile+".tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return 0, fmt.Errorf("sums: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, sumsFile)); err != nil {
		return 0, fmt.Errorf("sums: %w", err)
	}
	return len(names), nil
}
