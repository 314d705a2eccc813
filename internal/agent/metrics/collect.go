package metrics

import (
	"context"
	"log/slog"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/mem"
	psnet "github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/sensors"

	"github.com/steward-rmm/steward/internal/agent/facts"
	"github.com/steward-rmm/steward/internal/protocol"
)

// Collector takes samples of the host's metrics. It remembers the previous
// pass's I/O counters to turn them into per-second rates, so it is not safe
// for concurrent use: one sampler owns it.
type Collector struct {
	log    *slog.Logger
	diskIO counters // previous pass, for rates; zero before the first
	netIO  counters
	// cpuTotal and cpuCores are the previous pass's CPU times, so usage is
	// measured between passes; nil before the first.
	cpuTotal []cpu.TimesStat
	cpuCores []cpu.TimesStat
	failed   map[string]bool // groups whose last collection failed, to log once
}

// NewCollector returns a Collector that logs failing sources to log.
func NewCollector(log *slog.Logger) *Collector {
	return &Collector{log: log, failed: make(map[string]bool)}
}

// Collect takes one sample of the groups p turns on. Sources that fail or
// are not supported on this system are left out of the sample; a group
// that is off is not even read.
func (c *Collector) Collect(ctx context.Context, p Policy) protocol.Sample {
	now := time.Now()
	v := values{}
	type source struct {
		group string
		read  func(context.Context, values) error
	}
	for _, s := range []source{
		{GroupCPU, c.readCPU},
		{GroupLoad, readLoad},
		{GroupMemory, readMemory},
		{GroupSwap, readSwap},
		{GroupDisk, readDisks},
		{GroupDiskIO, func(ctx context.Context, v values) error { return c.readDiskIO(ctx, now, v) }},
		{GroupNetwork, func(ctx context.Context, v values) error { return c.readNet(ctx, now, v) }},
		{GroupUptime, readUptime},
		{GroupProcesses, readProcesses},
		{GroupUsers, readUsers},
		{GroupTemperature, readTemperatures},
	} {
		if !p.On(s.group) {
			// Forget old counters: a group turned on again later must not
			// compute a rate across the gap.
			switch s.group {
			case GroupDiskIO:
				c.diskIO = counters{}
			case GroupNetwork:
				c.netIO = counters{}
			}
			continue
		}
		err := s.read(ctx, v)
		switch {
		case err != nil && !c.failed[s.group]:
			c.log.WarnContext(ctx, "cannot collect metrics; leaving them out", "group", s.group, "err", err)
		case err != nil:
			c.log.DebugContext(ctx, "cannot collect metrics", "group", s.group, "err", err)
		case c.failed[s.group]:
			c.log.InfoContext(ctx, "collecting metrics again", "group", s.group)
		}
		c.failed[s.group] = err != nil
	}
	return protocol.Sample{Time: now.UTC().Truncate(time.Millisecond), Values: v.trim()}
}

// values are a sample's values under construction. set keeps only what the
// server would accept.
type values map[string]float64

func (v values) set(name, instance string, x float64) {
	key := name
	if instance != "" {
		key += ":" + instance
	}
	if _, _, ok := protocol.SplitMetric(key); !ok {
		return
	}
	if strings.HasSuffix(name, "percent") {
		x = min(max(x, 0), 100)
	}
	if protocol.CheckValue(name, x) != "" {
		return
	}
	v[key] = x
}

// trim bounds a sample to protocol.MaxValuesPerSample, keeping every
// host-wide value and then per-instance values in key order. Only a host
// with hundreds of disks or interfaces gets there.
func (v values) trim() map[string]float64 {
	if len(v) <= protocol.MaxValuesPerSample {
		return v
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		ai, bi := strings.Contains(a, ":"), strings.Contains(b, ":")
		if ai != bi {
			if ai {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	out := make(map[string]float64, protocol.MaxValuesPerSample)
	for _, k := range keys[:protocol.MaxValuesPerSample] {
		out[k] = v[k]
	}
	return out
}

// readCPU reports usage between this pass and the previous one, from the
// collector's own snapshots. gopsutil's "since the last call" mode keeps
// one snapshot per process, taken when the package loads: the first pass
// after a start would then report the start-up itself, often near 100%,
// and raise a false alert. The first pass reports no CPU values instead.
func (c *Collector) readCPU(ctx context.Context, v values) error {
	total, err := cpu.TimesWithContext(ctx, false)
	if err != nil {
		return err
	}
	cores, err := cpu.TimesWithContext(ctx, true)
	if err != nil {
		return err
	}
	if len(c.cpuTotal) == 1 && len(total) == 1 {
		if pct, ok := busyPercent(c.cpuTotal[0], total[0]); ok {
			v.set("cpu.percent", "", pct)
		}
	}
	if len(c.cpuCores) == len(cores) {
		for i := range cores {
			if pct, ok := busyPercent(c.cpuCores[i], cores[i]); ok {
				v.set("cpu.core_percent", strconv.Itoa(i), pct)
			}
		}
	}
	c.cpuTotal, c.cpuCores = total, cores
	return nil
}

// busyPercent is the share of non-idle time between two snapshots.
func busyPercent(prev, cur cpu.TimesStat) (float64, bool) {
	all := func(t cpu.TimesStat) float64 {
		// Guest time is already counted in user time on Linux.
		return t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
	}
	idle := func(t cpu.TimesStat) float64 { return t.Idle + t.Iowait }
	dt := all(cur) - all(prev)
	if dt <= 0 {
		return 0, false
	}
	busy := dt - (idle(cur) - idle(prev))
	return math.Max(0, math.Min(100, 100*busy/dt)), true
}

func readMemory(ctx context.Context, v values) error {
	m, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return err
	}
	v.set("memory.used_bytes", "", float64(m.Used))
	v.set("memory.total_bytes", "", float64(m.Total))
	v.set("memory.percent", "", m.UsedPercent)
	return nil
}

func readSwap(ctx context.Context, v values) error {
	s, err := mem.SwapMemoryWithContext(ctx)
	if err != nil {
		return err
	}
	v.set("swap.used_bytes", "", float64(s.Used))
	v.set("swap.total_bytes", "", float64(s.Total))
	if s.Total > 0 {
		v.set("swap.percent", "", s.UsedPercent)
	}
	return nil
}

// pseudoFS are file system types that hold no user data, or whose usage
// says nothing (read-only images that are always full).
var pseudoFS = map[string]bool{
	"autofs": true, "binfmt_misc": true, "bpf": true, "cgroup": true, "cgroup2": true,
	"configfs": true, "debugfs": true, "devfs": true, "devpts": true, "devtmpfs": true,
	"efivarfs": true, "fusectl": true, "hugetlbfs": true, "mqueue": true, "nsfs": true,
	"overlay": true, "proc": true, "pstore": true, "ramfs": true, "rpc_pipefs": true,
	"securityfs": true, "squashfs": true, "sysfs": true, "tmpfs": true, "tracefs": true,
	"iso9660": true, "udf": true, "nullfs": true, "fdescfs": true, "linprocfs": true,
}

func readDisks(ctx context.Context, v values) error {
	parts, err := disk.PartitionsWithContext(ctx, false)
	if err != nil && len(parts) == 0 {
		return err
	}
	seen := make(map[string]bool) // devices, against bind mounts
	for _, p := range parts {
		if pseudoFS[strings.ToLower(p.Fstype)] || (p.Device != "" && seen[p.Device]) {
			continue
		}
		u, err := disk.UsageWithContext(ctx, p.Mountpoint)
		if err != nil || u.Total == 0 {
			continue // unreadable or empty (a card reader, a dead network share)
		}
		seen[p.Device] = true
		v.set("disk.used_bytes", p.Mountpoint, float64(u.Used))
		v.set("disk.total_bytes", p.Mountpoint, float64(u.Total))
		v.set("disk.free_bytes", p.Mountpoint, float64(u.Free))
		v.set("disk.percent", p.Mountpoint, u.UsedPercent)
	}
	return nil
}

func (c *Collector) readDiskIO(ctx context.Context, now time.Time, v values) error {
	stats, err := disk.IOCountersWithContext(ctx)
	if err != nil {
		c.diskIO = counters{}
		return err
	}
	cur := counters{at: now, read: make(map[string][2]uint64, len(stats))}
	for name, s := range stats {
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") {
			continue
		}
		cur.read[name] = [2]uint64{s.ReadBytes, s.WriteBytes}
	}
	for name, r := range rates(c.diskIO, cur) {
		v.set("diskio.read_bytes_per_s", name, r[0])
		v.set("diskio.write_bytes_per_s", name, r[1])
	}
	c.diskIO = cur
	return nil
}

func (c *Collector) readNet(ctx context.Context, now time.Time, v values) error {
	stats, err := psnet.IOCountersWithContext(ctx, true)
	if err != nil {
		c.netIO = counters{}
		return err
	}
	loopback := make(map[string]bool)
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			if i.Flags&net.FlagLoopback != 0 {
				loopback[i.Name] = true
			}
		}
	}
	cur := counters{at: now, read: make(map[string][2]uint64, len(stats))}
	for _, s := range stats {
		if loopback[s.Name] || s.Name == "lo" || strings.HasPrefix(s.Name, "lo0") {
			continue
		}
		cur.read[s.Name] = [2]uint64{s.BytesRecv, s.BytesSent}
	}
	for name, r := range rates(c.netIO, cur) {
		v.set("net.rx_bytes_per_s", name, r[0])
		v.set("net.tx_bytes_per_s", name, r[1])
	}
	c.netIO = cur
	return nil
}

// counters are one pass's readings of pairs of monotonic byte counters
// (read and write, received and sent) by instance.
type counters struct {
	at   time.Time
	read map[string][2]uint64
}

// rates turns two passes' counters into per-second rates. There is no rate
// without a previous pass, for an instance new since then, or for a
// counter that went backwards (a reset or wrap-around).
func rates(prev, cur counters) map[string][2]float64 {
	dt := cur.at.Sub(prev.at).Seconds()
	if prev.read == nil || dt <= 0 {
		return nil
	}
	out := make(map[string][2]float64, len(cur.read))
	for name, c := range cur.read {
		p, ok := prev.read[name]
		if !ok || c[0] < p[0] || c[1] < p[1] {
			continue
		}
		out[name] = [2]float64{float64(c[0]-p[0]) / dt, float64(c[1]-p[1]) / dt}
	}
	return out
}

func readUptime(ctx context.Context, v values) error {
	up, err := facts.Uptime(ctx)
	if err != nil {
		return err
	}
	v.set("uptime.seconds", "", up.Seconds())
	return nil
}

func readUsers(ctx context.Context, v values) error {
	users, err := facts.Users(ctx)
	if err != nil {
		return err
	}
	v.set("users.count", "", float64(len(users)))
	return nil
}

func readTemperatures(ctx context.Context, v values) error {
	temps, err := sensors.TemperaturesWithContext(ctx)
	// gopsutil returns what it could read along with a warning about the
	// rest; only nothing at all is a failure.
	if len(temps) == 0 {
		return err
	}
	for _, t := range temps {
		if math.IsNaN(t.Temperature) || t.SensorKey == "" {
			continue
		}
		v.set("temperature.celsius", t.SensorKey, t.Temperature)
	}
	return nil
}
