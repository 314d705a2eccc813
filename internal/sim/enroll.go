package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/agent/backoff"
	"github.com/steward-rmm/steward/internal/protocol"
)

// Enrollment retries: 429 and 5xx answers and network errors are retried
// this many times in all, with backoff; other refusals are final.
const (
	enrollAttempts    = 10
	enrollBackoffBase = 250 * time.Millisecond
	enrollBackoffCap  = 10 * time.Second
	enrollTimeout     = 30 * time.Second
)

// identities returns the credentials of agents 0..Agents-1: those saved
// in the state directory, and newly enrolled ones for the rest. New
// identities are saved even when enrollment fails part way, so agents that
// exist on the server are not lost.
func (s *Sim) identities(ctx context.Context) ([]Identity, error) {
	saved := map[int]Identity{}
	if s.cfg.StateDir != "" {
		var err error
		if saved, err = loadState(s.cfg.StateDir); err != nil {
			return nil, err
		}
	}
	ids := make([]Identity, s.cfg.Agents)
	var missing []int
	for i := range ids {
		if id, ok := saved[i]; ok {
			ids[i] = id
		} else {
			missing = append(missing, i)
		}
	}
	s.c.enrolled.Store(int64(len(ids) - len(missing)))
	s.cfg.Log.Info("identities", "saved", len(ids)-len(missing), "to_enroll", len(missing))
	if len(missing) == 0 {
		return ids, nil
	}
	if s.cfg.Token == "" {
		return nil, fmt.Errorf("token: %d agents have no identity in %s; an enrollment token is required", len(missing), s.cfg.StateDir)
	}

	err := s.enrollAll(ctx, missing, ids)
	if s.cfg.StateDir != "" {
		for _, id := range ids {
			if id.ID != "" {
				saved[id.Index] = id
			}
		}
		all := slices.SortedFunc(maps.Values(saved), func(a, b Identity) int { return a.Index - b.Index })
		if serr := saveState(s.cfg.StateDir, all); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// enrollAll enrolls the missing agents, EnrollConcurrency at a time, and
// fills in ids. The first final failure stops the others.
func (s *Sim) enrollAll(ctx context.Context, missing []int, ids []Identity) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	conc := min(s.cfg.EnrollConcurrency, len(missing))
	tr := &http.Transport{DialContext: s.dial, MaxIdleConnsPerHost: conc}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: enrollTimeout}

	work := make(chan int)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for i := range work {
				id, err := s.enroll(ctx, client, i)
				if err != nil {
					cancel(err)
					return
				}
				ids[i] = id
				s.c.enrolled.Add(1)
			}
		})
	}
feed:
	for _, i := range missing {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("enrollment interrupted: %w", err)
		}
		return err
	}
	return nil
}

// enroll enrolls agent i, retrying what may succeed later.
func (s *Sim) enroll(ctx context.Context, client *http.Client, i int) (Identity, error) {
	body, err := json.Marshal(protocol.EnrollRequest{Token: s.cfg.Token, Facts: s.factsOf(i)})
	if err != nil {
		return Identity{}, err
	}
	bo := backoff.Backoff{Base: enrollBackoffBase, Cap: enrollBackoffCap}
	server := i % len(s.baseURLs)
	for attempt := 1; ; attempt++ {
		res, wait, err := s.postEnroll(ctx, client, s.baseURLs[server], body)
		if err == nil {
			return Identity{Index: i, ID: res.AgentID, Secret: res.AgentSecret}, nil
		}
		var final *finalError
		if errors.As(err, &final) || attempt >= enrollAttempts || ctx.Err() != nil {
			return Identity{}, fmt.Errorf("enroll %s: %w", hostname(s.cfg.NamePrefix, i), err)
		}
		s.c.enrollRetries.Add(1)
		s.cfg.Log.Debug("enrollment failed; retrying", "agent", hostname(s.cfg.NamePrefix, i), "err", err)
		server = (server + 1) % len(s.baseURLs)
		t := time.NewTimer(max(bo.Next(), wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return Identity{}, fmt.Errorf("enroll %s: %w", hostname(s.cfg.NamePrefix, i), context.Cause(ctx))
		case <-t.C:
		}
	}
}

// finalError is a refusal that retrying will not change.
type finalError struct{ msg string }

func (e *finalError) Error() string { return e.msg }

// postEnroll makes one enrollment request. wait is the server's
// Retry-After, if any.
func (s *Sim) postEnroll(ctx context.Context, client *http.Client, server string, body []byte) (protocol.EnrollResponse, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server+protocol.EnrollPath, bytes.NewReader(body))
	if err != nil {
		return protocol.EnrollResponse{}, 0, &finalError{err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return protocol.EnrollResponse{}, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("server answered %s%s", resp.Status, errorMessage(resp.Body))
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // keep the connection reusable
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			return protocol.EnrollResponse{}, retryAfter(resp.Header.Get("Retry-After")), err
		case resp.StatusCode >= 500:
			return protocol.EnrollResponse{}, 0, err
		}
		return protocol.EnrollResponse{}, 0, &finalError{err.Error()}
	}
	var res protocol.EnrollResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&res); err != nil {
		return protocol.EnrollResponse{}, 0, fmt.Errorf("read enrollment response: %w", err)
	}
	if res.AgentID == "" || res.AgentSecret == "" {
		return protocol.EnrollResponse{}, 0, &finalError{"enrollment response lacks agent_id or agent_secret"}
	}
	return res, 0, nil
}

// retryAfter parses a Retry-After header in seconds, capped at a minute;
// 0 when absent or malformed.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, time.Minute)
}
