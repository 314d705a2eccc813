package actions

import (
	"cmp"
	"encoding/json"
	"sort"
	"unicode/utf8"

	"github.com/steward-rmm/steward/internal/protocol"
)

// fitBudget is what an action's list may take of one message, leaving
// room for the fields around it.
const fitBudget = protocol.MaxOutputBytes - 1<<10

// Lengths long fields are cut to, in turn, while a list does not fit.
var (
	commandLineCuts = []int{1024, 256, 64}
	descriptionCuts = []int{256, 64, 0}
	messageCuts     = []int{4096, 1024, 256}
)

// keepFitting is how many of items, from the first, fit in budget bytes
// of JSON.
func keepFitting[T any](items []T, budget int) int {
	used := 2
	for i, it := range items {
		b, _ := json.Marshal(it)
		used += len(b) + 1
		if used > budget {
			return i
		}
	}
	return len(items)
}

// cutEach shortens field(item) to n bytes in every item, telling whether
// any was cut.
func cutEach[T any](items []T, n int, field func(*T) *string) bool {
	cut := false
	for i := range items {
		f := field(&items[i])
		if s, ok := shorten(*f, n); ok {
			*f, cut = s, true
		}
	}
	return cut
}

// fitList shortens field through cuts, then keeps the first items that
// fit, telling whether anything was lost; items come in the order they are
// worth keeping.
func fitList[T any](items []T, cuts []int, field func(*T) *string) ([]T, bool) {
	cut := false
	for _, n := range cuts {
		if keepFitting(items, fitBudget) == len(items) {
			return items, cut
		}
		cut = cutEach(items, n, field) || cut
	}
	n := keepFitting(items, fitBudget)
	return items[:n], cut || n < len(items)
}

// shorten cuts s to at most n bytes on a rune boundary, ending with "…"
// when cut; ok says it was cut.
func shorten(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	const ellipsis = "…"
	if n <= len(ellipsis) {
		return "", true
	}
	end := n - len(ellipsis)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + ellipsis, true
}

// fitProcesses keeps the biggest processes by memory when they do not all
// fit, listed by PID.
func fitProcesses(list protocol.ProcessList) protocol.ProcessList {
	// sort.Slice, not slices.SortFunc: one generic sort per element type
	// costs the agent's binary more than reflection here costs in time.
	ps := list.Processes
	sort.Slice(ps, func(i, j int) bool {
		return cmp.Or(cmp.Compare(ps[j].MemoryBytes, ps[i].MemoryBytes), cmp.Compare(ps[i].PID, ps[j].PID)) < 0
	})
	var lost bool
	list.Processes, lost = fitList(list.Processes, commandLineCuts, func(p *protocol.ProcessInfo) *string { return &p.CommandLine })
	list.Truncated = list.Truncated || lost
	ps = list.Processes
	sort.Slice(ps, func(i, j int) bool { return ps[i].PID < ps[j].PID })
	return list
}

// fitServices shortens descriptions, then keeps the first services by
// name.
func fitServices(list protocol.ServiceList) protocol.ServiceList {
	ss := list.Services
	sort.Slice(ss, func(i, j int) bool { return ss[i].Name < ss[j].Name })
	if len(list.Services) > protocol.MaxServices {
		list.Services, list.Truncated = list.Services[:protocol.MaxServices], true
	}
	var lost bool
	list.Services, lost = fitList(list.Services, descriptionCuts, func(s *protocol.ServiceInfo) *string { return &s.Description })
	list.Truncated = list.Truncated || lost
	if list.Services == nil {
		list.Services = []protocol.ServiceInfo{}
	}
	return list
}

// fitLog shortens messages, then keeps the newest entries (the list is
// newest first).
func fitLog(l protocol.EventLog) protocol.EventLog {
	var lost bool
	l.Entries, lost = fitList(l.Entries, messageCuts, func(e *protocol.LogEntry) *string { return &e.Message })
	l.Truncated = l.Truncated || lost
	if l.Entries == nil {
		l.Entries = []protocol.LogEntry{}
	}
	return l
}
