package sim

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
)

// addrPool hands out local source addresses round-robin. Each address has
// its own range of ephemeral ports, so spreading connections over several
// lets one process open more connections to one server address than a
// single source address allows.
type addrPool struct {
	spans []span
	total uint64
	next  atomic.Uint64
}

// span is a run of consecutive IPv4 addresses, or one address of any family.
type span struct {
	first netip.Addr
	n     uint64
}

// maxSourceAddrs bounds a pool; more addresses than ports per process make
// no sense and a typo like 10.0.0.0/1 should fail loudly.
const maxSourceAddrs = 1 << 24

// parseSourceAddrs parses a comma-separated list of addresses, IPv4 ranges
// (127.0.0.1-127.0.0.200) and IPv4 prefixes (127.0.0.0/24). A prefix of /30
// or shorter leaves out its network and broadcast addresses. An empty
// string means no binding: nil pool.
func parseSourceAddrs(s string) (*addrPool, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	p := &addrPool{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		sp, err := parseSpan(item)
		if err != nil {
			return nil, fmt.Errorf("source addresses: %w", err)
		}
		p.spans = append(p.spans, sp)
		p.total += sp.n
		if p.total > maxSourceAddrs {
			return nil, fmt.Errorf("source addresses: more than %d addresses", maxSourceAddrs)
		}
	}
	return p, nil
}

func parseSpan(item string) (span, error) {
	switch {
	case item == "":
		return span{}, fmt.Errorf("empty item")
	case strings.Contains(item, "/"):
		pfx, err := netip.ParsePrefix(item)
		if err != nil {
			return span{}, fmt.Errorf("%q: %w", item, err)
		}
		if !pfx.Addr().Is4() {
			return span{}, fmt.Errorf("%q: only IPv4 prefixes are supported", item)
		}
		pfx = pfx.Masked()
		if pfx.Bits() < 8 {
			return span{}, fmt.Errorf("%q: prefix is larger than /8", item)
		}
		first, n := pfx.Addr(), uint64(1)<<(32-pfx.Bits())
		if n >= 4 {
			first, n = first.Next(), n-2
		}
		return span{first: first, n: n}, nil
	case strings.Contains(item, "-"):
		lo, hi, _ := strings.Cut(item, "-")
		a, err := netip.ParseAddr(strings.TrimSpace(lo))
		if err != nil {
			return span{}, fmt.Errorf("%q: %w", item, err)
		}
		b, err := netip.ParseAddr(strings.TrimSpace(hi))
		if err != nil {
			return span{}, fmt.Errorf("%q: %w", item, err)
		}
		if !a.Is4() || !b.Is4() {
			return span{}, fmt.Errorf("%q: only IPv4 ranges are supported", item)
		}
		if b.Less(a) {
			return span{}, fmt.Errorf("%q: range ends before it starts", item)
		}
		return span{first: a, n: uint64(ip4(b)-ip4(a)) + 1}, nil
	default:
		a, err := netip.ParseAddr(item)
		if err != nil {
			return span{}, fmt.Errorf("%q: %w", item, err)
		}
		return span{first: a, n: 1}, nil
	}
}

func ip4(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// pick returns the next address, cycling through the pool.
func (p *addrPool) pick() netip.Addr {
	return p.at((p.next.Add(1) - 1) % p.total)
}

// at returns the i-th address of the pool, i < p.total.
func (p *addrPool) at(i uint64) netip.Addr {
	for _, sp := range p.spans {
		if i < sp.n {
			if i == 0 {
				return sp.first
			}
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], ip4(sp.first)+uint32(i))
			return netip.AddrFrom4(b)
		}
		i -= sp.n
	}
	panic("sim: address index out of range")
}
