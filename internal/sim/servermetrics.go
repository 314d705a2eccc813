package sim

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ServerMetrics are figures from the servers' Prometheus /metrics, summed
// over the servers of a run.
type ServerMetrics struct {
	RSS        uint64 // process_resident_memory_bytes
	Heap       uint64 // go_memstats_heap_inuse_bytes
	Goroutines int    // go_goroutines
	OpenFDs    int    // process_open_fds
	Agents     int    // steward_agents_connected
}

// add adds one sample to m if m keeps that metric.
func (m *ServerMetrics) add(name string, v float64) {
	switch name {
	case "process_resident_memory_bytes":
		m.RSS += uint64(v)
	case "go_memstats_heap_inuse_bytes":
		m.Heap += uint64(v)
	case "go_goroutines":
		m.Goroutines += int(v)
	case "process_open_fds":
		m.OpenFDs += int(v)
	case "steward_agents_connected":
		m.Agents += int(v)
	}
}

// ServerMetrics reads GET /metrics of every server and sums what it
// found. Useful while the servers run on the same machine as the
// simulator, to see the server's side of the cost per agent.
func (s *Sim) ServerMetrics(ctx context.Context) (ServerMetrics, error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: s.dial}}
	defer client.CloseIdleConnections()
	var m ServerMetrics
	for _, base := range s.baseURLs {
		if err := scrape(ctx, client, base+"/metrics", &m); err != nil {
			return ServerMetrics{}, err
		}
	}
	return m, nil
}

func scrape(ctx context.Context, client *http.Client, url string, m *ServerMetrics) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return parseMetrics(io.LimitReader(resp.Body, 8<<20), m)
}

// parseMetrics adds the samples of the Prometheus text format that m
// keeps. Only samples without labels are read.
func parseMetrics(r io.Reader, m *ServerMetrics) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		value, _, _ := strings.Cut(strings.TrimSpace(rest), " ") // drop a timestamp
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		m.add(name, v)
	}
	return sc.Err()
}
