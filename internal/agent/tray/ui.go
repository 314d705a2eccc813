package tray

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// ErrHidden is returned by UI.Run when the policy turned the icon off
// after it was shown; the process should exit with ExitHidden.
var ErrHidden = errors.New("the tray icon is turned off by policy")

// UI is the tray in the user's session: it polls the agent, draws the
// model and answers clicks.
type UI struct {
	Agent   Agent
	Log     *slog.Logger
	Refresh time.Duration // how often the agent is asked; default 5s

	// open opens a URL in the user's browser, openFile a local file (a
	// page's redirect); tests replace them.
	open     func(url string) error
	openFile func(path string) error

	cfg     Config // the last tray section the agent gave
	lastErr string // the last poll error logged, so a down agent logs once
	// helloDue is when the tray next says hello to the agent (zero: at
	// the next answer), agentPID the agent process that heard the last.
	helloDue time.Time
	agentPID int
	now      func() time.Time // time.Now; tests replace it

	pagesMu sync.Mutex
	pages   map[pageKind]*page // the open page of each kind
}

// Run shows the tray until ctx ends (nil) or the policy hides the icon
// after it was shown (ErrHidden). While the policy hides it, Run only
// polls.
func (u *UI) Run(ctx context.Context) error {
	if u.Refresh <= 0 {
		u.Refresh = 5 * time.Second
	}
	u.cfg = DefaultConfig()
	l := &launcher{log: u.Log}
	if u.open == nil {
		u.open = l.open
	}
	if u.openFile == nil {
		u.openFile = l.openFile
	}
	// Runs after ctx ended: give the openers a moment of their own.
	defer l.wait(context.WithoutCancel(ctx))
	defer u.closePages()

	tick := time.NewTicker(u.Refresh)
	defer tick.Stop()
	var logged string
	for {
		m := u.poll(ctx)
		err := errors.New("the tray icon is turned off by policy")
		if m.Visible {
			if err = hostReady(); err == nil {
				return u.show(ctx, m)
			}
		}
		if err.Error() != logged {
			u.Log.Info("waiting to show the tray icon", "reason", err)
			logged = err.Error()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// poll asks the agent for its status and tray section and builds the
// model; when the section cannot be had, the last one known stays.
func (u *UI) poll(ctx context.Context) Model {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, statusErr := u.Agent.Status(ctx)
	u.hello(ctx, st, statusErr)
	err := statusErr
	if err == nil {
		var raw []byte
		if raw, err = u.Agent.TrayConfig(ctx); err == nil {
			var c Config
			if c, err = ParseConfig(raw); err == nil {
				u.cfg = c
			}
		}
	}
	switch {
	case err != nil && err.Error() != u.lastErr:
		u.Log.Warn("cannot ask the agent", "err", err)
		u.lastErr = err.Error()
	case err == nil && u.lastErr != "":
		u.Log.Info("the agent answers again")
		u.lastErr = ""
	}
	return Build(st, statusErr, u.cfg)
}

// helloEvery is how often the tray says hello to the agent: the agent
// forgets a tray after three times as long without one.
const helloEvery = time.Minute

// hello tells the agent this tray's version when it is due: at the
// agent's first answer, every helloEvery, and at once when the agent
// restarted or answers again after it could not be asked (it may have
// restarted: it keeps trays in memory only).
func (u *UI) hello(ctx context.Context, st Status, statusErr error) {
	if statusErr != nil {
		u.helloDue = time.Time{}
		return
	}
	now := time.Now()
	if u.now != nil {
		now = u.now()
	}
	if st.AgentPID == u.agentPID && !u.helloDue.IsZero() && now.Before(u.helloDue) {
		return
	}
	u.agentPID, u.helloDue = st.AgentPID, now.Add(helloEvery)
	if err := u.Agent.Hello(ctx); err != nil {
		u.Log.Warn("cannot tell the agent this tray's version", "err", err)
	}
}

// view is the icon as one tray toolkit draws it.
type view interface {
	// draw changes what differs from old (nil at first) to m: icon,
	// tooltip, title and menu; all of them when force.
	draw(old *Model, m Model, force bool)
	// clicked gives the entries the user clicks.
	clicked() <-chan Entry
	// opened ticks when the user opens the menu; nil where the toolkit
	// does not tell (a nil channel never ticks).
	opened() <-chan struct{}
}

// loop keeps v, drawn with m, up to date until ctx ends (false) or the
// policy hides the icon (true). The first redraws refreshes draw
// everything again, for a toolkit that drops what is set before it is
// ready.
func (u *UI) loop(ctx context.Context, v view, m Model, redraws int) bool {
	tick := time.NewTicker(u.Refresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case c := <-v.clicked():
			u.click(ctx, c, m)
			continue
		case <-tick.C:
		case <-v.opened():
		}
		next := u.poll(ctx)
		if !next.Visible {
			u.Log.Info("the tray icon was turned off by policy")
			return true
		}
		if !next.Equal(m) || redraws > 0 {
			v.draw(&m, next, redraws > 0)
			m = next
		}
		if redraws > 0 {
			redraws--
		}
	}
}

// click does what entry e of model m is for.
func (u *UI) click(ctx context.Context, e Entry, m Model) {
	var err error
	switch e.Kind {
	case KindLink:
		err = u.open(e.URL)
	case KindHelp:
		err = u.openPage(ctx, helpPage, m)
	case KindAbout:
		err = u.openPage(ctx, aboutPage, m)
	}
	if err != nil {
		u.Log.Error("menu entry failed", "entry", e.Title, "err", err)
	}
}

// openPage serves a new page of kind, replacing the open one (whose link
// a second click makes stale anyway), and opens it in the browser.
func (u *UI) openPage(ctx context.Context, kind pageKind, m Model) error {
	p, err := startPage(ctx, kind, u.Agent, pageInfo{Title: m.Title, Support: clean(u.cfg.Support, maxStatusLen)}, pageLifetime, u.Log)
	if err != nil {
		return err
	}
	u.pagesMu.Lock()
	if u.pages == nil {
		u.pages = make(map[pageKind]*page)
	}
	old := u.pages[kind]
	u.pages[kind] = p
	u.pagesMu.Unlock()
	if old != nil {
		old.Close()
	}
	// The file, not the URL: a command line is visible to every local
	// user, and the URL carries the page's token.
	return u.openFile(p.File())
}

func (u *UI) closePages() {
	u.pagesMu.Lock()
	pages := u.pages
	u.pages = nil
	u.pagesMu.Unlock()
	for _, p := range pages {
		p.Close()
	}
}

func entriesEqual(a, b []Entry) bool {
	return Model{Entries: a}.Equal(Model{Entries: b})
}
