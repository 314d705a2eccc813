//go:build !linux

package sim

import "runtime/metrics"

// residentBytes approximates the resident set size by the memory the Go
// runtime holds from the OS and has not released; the simulator has no C
// allocations, so this is close to what the OS reports.
func residentBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}
