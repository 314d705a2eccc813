package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

type runJSON struct {
	AgentID        string `json:"agent_id"`
	Hostname       string `json:"hostname"`
	Status         string `json:"status"`
	ExitCode       *int   `json:"exit_code"`
	Error          string `json:"error"`
	Stdout         string `json:"stdout"`
	Stderr         string `json:"stderr"`
	OutputComplete bool   `json:"output_complete"`
}

type jobJSON struct {
	Runs struct {
		Items []runJSON `json:"items"`
	} `json:"runs"`
}

// scriptFleet is a server and agents enrolled in one site.
type scriptFleet struct {
	t       *testing.T
	srv     *server
	api     *apiClient
	siteID  string
	configs []string
	agents  map[string]*agentProc // by config
}

func newScriptFleet(t *testing.T, n int) *scriptFleet {
	bin(t, "steward-agent") // skips in -short mode
	f := &scriptFleet{t: t, srv: startServer(t, ""), agents: map[string]*agentProc{}}
	if _, err := f.srv.cli("correct-horse-battery\n", "user", "create", "--email", "owner@example.com", "--role", "owner", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	out, err := f.srv.cli("", "user", "api-token", "--email", "owner@example.com", "--name", "e2e")
	if err != nil {
		t.Fatal(err)
	}
	f.api = &apiClient{t: t, base: f.srv.URL, token: firstLine(out)}
	var client, site struct{ ID string }
	f.api.mustDo("POST", "/api/v1/clients", map[string]any{"name": "Scripts Co"}, &client, 201)
	f.api.mustDo("POST", "/api/v1/clients/"+client.ID+"/sites", map[string]any{"name": "HQ"}, &site, 201)
	f.siteID = site.ID
	var tok struct{ Token string }
	f.api.mustDo("POST", "/api/v1/sites/"+site.ID+"/enrollment-tokens", map[string]any{"expires_in": "1h", "max_uses": n}, &tok, 201)
	for range n {
		config := filepath.Join(t.TempDir(), "agent.json")
		install := exec.Command(bin(t, "steward-agent"), "install", "--no-service", "--server", f.srv.URL, "--token", "-", "--config", config)
		install.Stdin = strings.NewReader(tok.Token + "\n")
		install.Env = agentEnv(t, config)
		if out, err := install.CombinedOutput(); err != nil {
			t.Fatalf("install: %v\n%s", err, out)
		}
		f.configs = append(f.configs, config)
	}
	return f
}

func (f *scriptFleet) start(i int) { f.agents[f.configs[i]] = startAgent(f.t, f.configs[i]) }

// run starts a job and returns its ID.
func (f *scriptFleet) run(body map[string]any) string {
	f.t.Helper()
	if body["agent_ids"] == nil {
		body["site_id"] = f.siteID
	}
	var res struct{ ID string }
	f.api.mustDo("POST", "/api/v1/jobs", body, &res, 201)
	return res.ID
}

func (f *scriptFleet) job(id string) jobJSON {
	f.t.Helper()
	var j jobJSON
	f.api.mustDo("GET", "/api/v1/jobs/"+id+"?limit=500", nil, &j, 200)
	return j
}

// waitRuns waits until n runs of the job are finished with their output
// complete, and returns them.
func (f *scriptFleet) waitRuns(id string, n int, timeout time.Duration) []runJSON {
	f.t.Helper()
	var done []runJSON
	waitFor(f.t, timeout, fmt.Sprintf("%d runs of job %s finished", n, id), func() error {
		done = done[:0]
		var states []string
		for _, r := range f.job(id).Runs.Items {
			states = append(states, r.Status)
			if r.Status != "queued" && r.Status != "running" && r.OutputComplete {
				done = append(done, r)
			}
		}
		if len(done) < n {
			return fmt.Errorf("runs %v", states)
		}
		return nil
	})
	return done
}

// TestScripts runs scripts on real agents: arguments reach the script
// unchanged, output and exit codes come back, output streams live, a
// timeout kills the whole process tree, a run for an offline agent runs
// when it connects, and a server restart in the middle of a run loses
// nothing.
func TestScripts(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the script end-to-end test runs the Linux agent")
	}
	f := newScriptFleet(t, 3)
	f.start(0)
	f.start(1)
	waitOnline(t, f.api, 2, 60*time.Second)
	var l agentList
	f.api.mustDo("GET", "/api/v1/agents?online=true", nil, &l, 200)
	online := []string{l.Items[0].ID, l.Items[1].ID}

	// Arguments and output, on two agents; the third is offline.
	args := []string{`a "quoted" arg; rm -rf /`, "ünïcödé $(id) `id`", ""}
	job := f.run(map[string]any{"language": "bash", "args": args,
		"body": "for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\necho oops >&2\nprintf 'bin\\xff\\n'\nexit 3\n"})
	want := "[" + args[0] + "]\n[" + args[1] + "]\n[]\nbin\ufffd\n"
	for _, r := range f.waitRuns(job, 2, 60*time.Second) {
		if r.Status != "failed" || r.ExitCode == nil || *r.ExitCode != 3 || r.Stdout != want || r.Stderr != "oops\n" {
			t.Errorf("run on %s: %+v; want failed, exit 3, stdout %q", r.Hostname, r, want)
		}
	}

	// Live output: the run says "started" and waits for a file.
	gate := filepath.Join(t.TempDir(), "gate")
	live := f.run(map[string]any{"language": "sh", "args": []string{gate}, "agent_ids": online[:1],
		"body": "echo started\nwhile [ ! -e \"$1\" ]; do sleep 0.1; done\necho finished\n"})
	events := f.events(live, online[0])
	waitEvent(t, events, "output", "started")
	if r := f.job(live).Runs.Items[0]; r.Status != "running" {
		t.Errorf("while waiting for the gate the run is %s", r.Status)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, "output", "finished")
	waitEvent(t, events, "end", "")

	// A timeout kills the script and its children.
	pidDir := t.TempDir()
	slow := f.run(map[string]any{"language": "bash", "args": []string{pidDir}, "timeout": "3s", "agent_ids": online,
		"body": "sleep 300 &\necho $! > \"$1/$$.pid\"\nwait\n"})
	for _, r := range f.waitRuns(slow, 2, 60*time.Second) {
		if r.Status != "timed_out" {
			t.Errorf("slow run on %s: %+v, want timed_out", r.Hostname, r)
		}
	}
	pids, _ := filepath.Glob(filepath.Join(pidDir, "*.pid"))
	if len(pids) != 2 {
		t.Fatalf("pid files %v, want one per agent", pids)
	}
	for _, p := range pids {
		b, _ := os.ReadFile(p)
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("pid file %s: %q", p, b)
		}
		waitFor(t, 10*time.Second, fmt.Sprintf("the script's child %d gone", pid), func() error {
			if err := syscall.Kill(pid, 0); err == nil {
				return fmt.Errorf("process %d still runs", pid)
			}
			return nil
		})
	}

	// The offline agent runs the first job when it connects.
	f.start(2)
	runs := f.waitRuns(job, 3, 60*time.Second)
	if len(runs) != 3 {
		t.Fatalf("%d runs finished", len(runs))
	}

	// A server restart in the middle of a run: the run's output written
	// while the server was down and its result both arrive.
	mid := f.run(map[string]any{"language": "sh", "args": []string{gate + "-2"},
		"body": "echo before\nwhile [ ! -e \"$1\" ]; do sleep 0.1; done\necho after\ntouch \"$1.done-$$\"\n"})
	waitFor(t, 60*time.Second, "all three runs running", func() error {
		for _, r := range f.job(mid).Runs.Items {
			if r.Status != "running" || r.Stdout != "before\n" {
				return fmt.Errorf("run on %s: %s %q", r.Hostname, r.Status, r.Stdout)
			}
		}
		return nil
	})
	f.srv.stop()
	if err := os.WriteFile(gate+"-2", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The scripts finish while the server is down.
	waitFor(t, 30*time.Second, "the three scripts finished", func() error {
		done, _ := filepath.Glob(gate + "-2.done-*")
		if len(done) != 3 {
			return fmt.Errorf("%d finished", len(done))
		}
		return nil
	})
	f.srv.start()
	for _, r := range f.waitRuns(mid, 3, 90*time.Second) {
		if r.Status != "succeeded" || r.Stdout != "before\nafter\n" {
			t.Errorf("run across the restart on %s: %+v", r.Hostname, r)
		}
	}
}

// events opens a job's event stream for one agent's run and returns its
// events as [name, data] pairs.
func (f *scriptFleet) events(jobID, agentID string) <-chan [2]string {
	ctx, cancel := context.WithCancel(context.Background())
	f.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/api/v1/jobs/"+jobID+"/events?agent_id="+agentID, nil)
	req.Header.Set("Authorization", "Bearer "+f.api.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		f.t.Fatalf("job events: %v %v", err, resp)
	}
	out := make(chan [2]string, 1000)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var name string
		for sc.Scan() {
			switch line := sc.Text(); {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				out <- [2]string{name, strings.TrimPrefix(line, "data: ")}
			}
		}
	}()
	return out
}

// waitEvent reads events until one named name whose data holds text.
func waitEvent(t *testing.T, events <-chan [2]string, name, text string) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("the event stream ended before %s %q", name, text)
			}
			if ev[0] != name {
				continue
			}
			if name == "output" {
				var o struct{ Text string }
				json.Unmarshal([]byte(ev[1]), &o)
				if strings.Contains(o.Text, text) {
					return
				}
				continue
			}
			if strings.Contains(ev[1], text) {
				return
			}
		case <-timeout:
			t.Fatalf("no %s event with %q within a minute", name, text)
		}
	}
}
