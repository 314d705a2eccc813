//go:build linux

package tray

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/google/go-cmp/cmp"
)

// TestTrayOverDBus runs the real tray (our StatusNotifierItem, sni.go) in
// a child process on a private DBus session bus, plays the desktop's
// StatusNotifierWatcher itself, and reads the icon, tooltip and menu back
// the way a panel does (StatusNotifierItem properties, com.canonical.dbusmenu
// GetLayout and GetGroupProperties). It restarts the watcher and sees the
// item register again, clicks "Request help" over DBus and lets a scripted
// browser fill in the page, then turns the icon off by policy. No X server
// is needed.
func TestTrayOverDBus(t *testing.T) {
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon not installed (Debian package dbus-daemon)")
	}
	addr := startBus(t, daemon)
	conn, items := startWatcher(t, addr)

	dir := t.TempDir()
	agent := fileAgentState{
		Status: Status{Connected: true, AgentID: "agent-1", Hostname: "pc1", Version: "1.2.3"},
		Tray: json.RawMessage(`{"company":"Acme_IT","support":"+1 555 0100",` +
			`"links":[{"title":"Portal","url":"https://portal.acme.example"},{"title":"Bad","url":"file:///etc/passwd"}]}`),
	}
	agent.write(t, dir)

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "STEWARD_TRAY_HELPER=ui", "STEWARD_TRAY_HELPER_FILE="+filepath.Join(dir, "marks"),
		"STEWARD_TRAY_AGENT_DIR="+dir, "DBUS_SESSION_BUS_ADDRESS="+addr)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("tray output:\n%s", out.String())
		}
	})

	var service string
	select {
	case service = <-items:
	case <-exited:
		t.Fatalf("tray exited before registering: %v\n%s", waitErr, out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("tray did not register with the watcher:\n%s", out.String())
	}
	item := conn.Object(service, "/StatusNotifierItem")
	// A panel finds the menu through the item's Menu property.
	mp, err := item.GetProperty("org.kde.StatusNotifierItem.Menu")
	if err != nil {
		t.Fatalf("Menu property: %v", err)
	}
	menuPath, _ := mp.Value().(dbus.ObjectPath)
	menu := conn.Object(service, menuPath)

	wantLabels := []string{"Acme__IT", "Connected", "Support: +1 555 0100", "-", "Portal", "-", "Request help…", "About this computer"}
	waitFor(t, "the connected menu", func() (bool, string) {
		got := layout(t, menu)
		return cmp.Equal(labels(got), wantLabels), fmt.Sprint(labels(got))
	})
	if tip := tooltip(t, item); tip != "Acme_IT: Connected" {
		t.Errorf("tooltip %q, want %q", tip, "Acme_IT: Connected")
	}
	if got, want := iconColor(t, item), stateColors[StateConnected]; got != [3]byte{want.R, want.G, want.B} {
		t.Errorf("connected icon colour %v, want %v", got, want)
	}
	if got := stringProp(t, item, "org.kde.StatusNotifierItem.Status"); got != "Active" {
		t.Errorf("Status %q, want Active", got)
	}
	if v, err := menu.GetProperty("com.canonical.dbusmenu.Version"); err != nil || v.Value() != uint32(3) {
		t.Errorf("dbusmenu Version %v (%v), want 3", v, err)
	}
	// What a panel that asks for the items' properties separately sees.
	var group []struct {
		ID    int32
		Props map[string]dbus.Variant
	}
	ids := []int32{}
	for _, c := range layout(t, menu).children {
		ids = append(ids, c.id)
	}
	if err := menu.Call("com.canonical.dbusmenu.GetGroupProperties", 0, ids, []string{"label", "enabled"}).Store(&group); err != nil {
		t.Fatalf("GetGroupProperties: %v", err)
	}
	if len(group) != len(ids) || group[0].Props["label"].Value() != "Acme__IT" || group[0].Props["enabled"].Value() != false {
		t.Errorf("GetGroupProperties gave %v", group)
	}
	var xml string
	if err := item.Call("org.freedesktop.DBus.Introspectable.Introspect", 0).Store(&xml); err != nil ||
		!strings.Contains(xml, `<interface name="org.kde.StatusNotifierItem">`) {
		t.Errorf("Introspect: %v\n%s", err, xml)
	}

	// The panel restarts: a new watcher takes the name, and the item
	// registers with it.
	if _, err := conn.ReleaseName("org.kde.StatusNotifierWatcher"); err != nil {
		t.Fatal(err)
	}
	_, items2 := startWatcher(t, addr)
	select {
	case again := <-items2:
		if again != service {
			t.Errorf("registered again as %q, was %q", again, service)
		}
	case <-exited:
		t.Fatalf("tray exited: %v", waitErr)
	case <-time.After(60 * time.Second):
		t.Fatal("the tray did not register with the new watcher")
	}

	// The agent reports a problem: the orange icon, and the item asks for
	// attention.
	agent.Status.Attention = "disk almost full"
	agent.write(t, dir)
	waitFor(t, "the attention status", func() (bool, string) {
		got := stringProp(t, item, "org.kde.StatusNotifierItem.Status")
		return got == "NeedsAttention", got
	})
	if got, want := iconColor(t, item), stateColors[StateAttention]; got != [3]byte{want.R, want.G, want.B} {
		t.Errorf("attention icon colour %v, want %v", got, want)
	}
	agent.Status.Attention = ""

	// The agent loses its server: icon, tooltip and menu follow.
	agent.Status.Connected = false
	agent.write(t, dir)
	waitFor(t, "the disconnected tooltip", func() (bool, string) {
		tip := tooltip(t, item)
		return tip == "Acme_IT: Not connected to the server", tip
	})
	if got, want := iconColor(t, item), stateColors[StateDisconnected]; got != [3]byte{want.R, want.G, want.B} {
		t.Errorf("disconnected icon colour %v, want %v", got, want)
	}
	waitFor(t, "the disconnected menu", func() (bool, string) {
		l := labels(layout(t, menu))
		return len(l) > 1 && l[1] == "Not connected to the server", fmt.Sprint(l)
	})

	// Click "Request help…": the scripted browser posts the form.
	var helpID int32 = -1
	for _, e := range layout(t, menu).children {
		if e.label == "Request help…" {
			helpID = e.id
		}
	}
	if err := menu.Call("com.canonical.dbusmenu.Event", 0, helpID, "clicked", dbus.MakeVariant(""), uint32(0)).Err; err != nil {
		t.Fatalf("click Request help: %v", err)
	}
	waitFor(t, "the help request", func() (bool, string) {
		got := readFile(filepath.Join(dir, "helps"))
		return got == "help from the dbus test\n", got
	})
	waitFor(t, "the page's answer", func() (bool, string) {
		got := readFile(filepath.Join(dir, "browser"))
		return strings.Contains(got, "Your request was sent to Acme_IT"), got
	})

	// The policy turns the icon off: the UI ends with ExitHidden.
	agent.Tray = json.RawMessage(`{"enabled":false}`)
	agent.write(t, dir)
	select {
	case <-exited:
		var ee *exec.ExitError
		if !errors.As(waitErr, &ee) || ee.ExitCode() != ExitHidden {
			t.Fatalf("tray exited with %v, want exit code %d", waitErr, ExitHidden)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("tray still running after the policy turned it off")
	}
}

// startBus starts a private session bus and returns its address.
func startBus(t *testing.T, daemon string) string {
	addr, _ := startBusCmd(t, daemon)
	return addr
}

// startBusCmd starts a private session bus and returns its address and
// its process.
func startBusCmd(t *testing.T, daemon string) (string, *exec.Cmd) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:path=`+filepath.Join(dir, "bus")+`</listen>
<auth>EXTERNAL</auth>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>
</busconfig>`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+conf, "--nofork", "--print-address=1")
	// Gone with the test binary even when a timeout panic skips Cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read the bus address: %v", err)
	}
	return strings.TrimSpace(line), cmd
}

func connectBus(t *testing.T, addr string) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatalf("connect to the test bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// startWatcher plays org.kde.StatusNotifierWatcher on a connection of its
// own; the channel gets the bus name of each item that registers.
func startWatcher(t *testing.T, addr string) (*dbus.Conn, <-chan string) {
	t.Helper()
	conn := connectBus(t, addr)
	items := make(chan string, 10)
	if err := conn.Export(&watcher{items}, "/StatusNotifierWatcher", "org.kde.StatusNotifierWatcher"); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName("org.kde.StatusNotifierWatcher", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own the watcher name: %v %v", reply, err)
	}
	return conn, items
}

// watcher is the part of org.kde.StatusNotifierWatcher the item calls.
type watcher struct{ items chan<- string }

func (w *watcher) RegisterStatusNotifierItem(sender dbus.Sender, path string) *dbus.Error {
	w.items <- string(sender)
	return nil
}

type menuNode struct {
	id       int32
	label    string
	kind     string
	enabled  bool
	children []menuNode
}

func layout(t *testing.T, menu dbus.BusObject) menuNode {
	t.Helper()
	var rev uint32
	var root struct {
		ID       int32
		Props    map[string]dbus.Variant
		Children []dbus.Variant
	}
	if err := menu.Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{}).Store(&rev, &root); err != nil {
		t.Fatalf("GetLayout: %v", err)
	}
	n := menuNode{id: root.ID}
	for _, c := range root.Children {
		n.children = append(n.children, toNode(c.Value()))
	}
	return n
}

func toNode(v any) menuNode {
	s, _ := v.([]any)
	if len(s) != 3 {
		return menuNode{}
	}
	n := menuNode{enabled: true}
	n.id, _ = s[0].(int32)
	props, _ := s[1].(map[string]dbus.Variant)
	if l, ok := props["label"]; ok {
		n.label, _ = l.Value().(string)
	}
	if k, ok := props["type"]; ok {
		n.kind, _ = k.Value().(string)
	}
	if e, ok := props["enabled"]; ok {
		n.enabled, _ = e.Value().(bool)
	}
	if vis, ok := props["visible"]; ok && vis.Value() == false {
		n.kind = "hidden"
	}
	return n
}

// labels lists the visible entries, "-" for a separator.
func labels(n menuNode) []string {
	var l []string
	for _, c := range n.children {
		switch c.kind {
		case "hidden":
		case "separator":
			l = append(l, "-")
		default:
			l = append(l, c.label)
		}
	}
	return l
}

func stringProp(t *testing.T, obj dbus.BusObject, name string) string {
	t.Helper()
	v, err := obj.GetProperty(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	s, _ := v.Value().(string)
	return s
}

func tooltip(t *testing.T, item dbus.BusObject) string {
	t.Helper()
	v, err := item.GetProperty("org.kde.StatusNotifierItem.ToolTip")
	if err != nil {
		t.Fatalf("ToolTip: %v", err)
	}
	// (sa(iiay)ss): icon name, icon pixmaps, title, description.
	s, _ := v.Value().([]any)
	if len(s) != 4 {
		t.Fatalf("ToolTip is %#v", v.Value())
	}
	title, _ := s[2].(string)
	return title
}

// iconColor returns the RGB of the icon pixmap at (16, 3), on the disc.
func iconColor(t *testing.T, item dbus.BusObject) [3]byte {
	t.Helper()
	v, err := item.GetProperty("org.kde.StatusNotifierItem.IconPixmap")
	if err != nil {
		t.Fatalf("IconPixmap: %v", err)
	}
	px, _ := v.Value().([][]any)
	if len(px) != 1 || len(px[0]) != 3 {
		t.Fatalf("IconPixmap is %#v", v.Value())
	}
	w, _ := px[0][0].(int32)
	data, _ := px[0][2].([]byte)
	off := (3*int(w) + 16) * 4 // ARGB32, network byte order
	if w != iconSize || len(data) < off+4 {
		t.Fatalf("icon %d px wide with %d bytes", w, len(data))
	}
	return [3]byte{data[off+1], data[off+2], data[off+3]}
}

func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		ok, last := cond()
		if ok {
			return
		}
		select {
		case <-poll.C:
		case <-deadline:
			t.Fatalf("waiting for %s: last seen %s", what, last)
		}
	}
}

// fileAgentState is what the UI child's agent answers, from a file the
// test rewrites.
type fileAgentState struct {
	Status    Status
	StatusErr string
	Tray      json.RawMessage
}

func (s fileAgentState) write(t *testing.T, dir string) {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "agent.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "agent.json")); err != nil {
		t.Fatal(err)
	}
}

type fileAgent struct{ dir string }

func (f fileAgent) state() (fileAgentState, error) {
	var s fileAgentState
	b, err := os.ReadFile(filepath.Join(f.dir, "agent.json"))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

func (f fileAgent) Status(context.Context) (Status, error) {
	s, err := f.state()
	if err == nil && s.StatusErr != "" {
		err = errors.New(s.StatusErr)
	}
	return s.Status, err
}

func (f fileAgent) TrayConfig(context.Context) (json.RawMessage, error) {
	s, err := f.state()
	return s.Tray, err
}

func (f fileAgent) HelpRequest(_ context.Context, msg string) (string, error) {
	file, err := os.OpenFile(filepath.Join(f.dir, "helps"), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return "", err
	}
	defer file.Close()
	_, err = fmt.Fprintln(file, msg)
	return "help-1", err
}

func (fileAgent) Hello(context.Context) error { return nil }

// runUIHelper is the UI child of TestTrayOverDBus.
func runUIHelper() {
	dir := os.Getenv("STEWARD_TRAY_AGENT_DIR")
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	u := &UI{Agent: fileAgent{dir}, Log: log, Refresh: 20 * time.Millisecond,
		openFile: func(f string) error { return scriptedBrowser(redirectTarget(f), filepath.Join(dir, "browser")) }}
	ctx, cancel := WatchParent(context.Background(), os.Stdin)
	defer cancel()
	err := u.Run(ctx)
	if errors.Is(err, ErrHidden) {
		os.Exit(ExitHidden)
	}
	if err != nil {
		log.Error("ui", "err", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// redirectTarget is where the page's redirect file at path sends the
// browser ("" when it cannot tell).
func redirectTarget(path string) string {
	b, _ := os.ReadFile(path)
	m := regexp.MustCompile(`href="([^"]+)"`).FindSubmatch(b)
	if m == nil {
		return ""
	}
	return html.UnescapeString(string(m[1]))
}

// scriptedBrowser loads the help page, types a message, submits it and
// writes the answer to result.
func scriptedBrowser(page, result string) error {
	resp, err := http.Get(page)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindStringSubmatch(string(body))
	if m == nil {
		return fmt.Errorf("no form in %s", body)
	}
	u, _ := url.Parse(page)
	req, _ := http.NewRequest(http.MethodPost, page, strings.NewReader(url.Values{"csrf": {m[1]}, "message": {"help from the dbus test"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://"+u.Host)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ = io.ReadAll(resp.Body)
	return os.WriteFile(result, body, 0o600)
}
