//go:build !windows

package service

func helperMain([]string) (int, bool) { return 0, false }
