package web_test

import (
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/steward-rmm/steward/internal/jobs"
	"github.com/steward-rmm/steward/internal/store"
)

// TestBrowserScripts drives the script library in headless Chromium: a
// new script written in the editor (Tab indents inside the body instead
// of leaving it, Shift+Tab outdents), saved, edited and saved again, with
// version 2 in its history, no CSP violation and no sideways scrolling.
func TestBrowserScripts(t *testing.T) {
	t.Parallel()
	chromium := requireChromium(t)
	e := newSQLiteEnv(t)
	e.mustScript(jobs.ScriptInput{Name: "Flush DNS cache", Description: "Clears the resolver cache", Category: "Network",
		Language: "powershell", Body: "Clear-DnsClientCache", TargetOS: "windows"})
	e.mustScript(jobs.ScriptInput{Name: "Restart print spooler", Description: "Stops and starts the spooler service", Category: "Maintenance",
		Language: "cmd", Body: "net stop spooler\r\nnet start spooler\r\n", TargetOS: "windows"})
	e.mustScript(jobs.ScriptInput{Name: "Free disk space", Description: "Lists the largest directories under /var", Category: "Diagnostics",
		Language: "bash", Body: "du -xh /var | sort -h | tail -20", TargetOS: "linux"})
	u := e.user(store.RoleTechnician)

	hb := newHeadless(t, chromium, 1440, 1700)
	ctx := hb.ctx
	step, eval, waitFor, waitForPage, noProblems, noScroll, shot := hb.step, hb.eval, hb.waitFor, hb.waitForPage, hb.noProblems, hb.noScroll, hb.shot
	// tab presses Tab (or Shift+Tab) as a keyboard does: a keyDown with
	// no text, whose default action moves the focus.
	tab := func(shift bool) {
		t.Helper()
		var mods int64
		if shift {
			mods = 8 // Shift
		}
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			p := input.DispatchKeyEventParams{Type: typ, Key: "Tab", Code: "Tab", WindowsVirtualKeyCode: 9, NativeVirtualKeyCode: 9, Modifiers: mods}
			if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	body := func() string { return eval(`document.getElementById("script-body").value`) }

	step("sign in", chromedp.Navigate(e.srv.URL+"/scripts"), chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), u.Email), chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")), chromedp.WaitVisible(chromedp.ID("scripts-table")))
	noProblems("scripts page")
	noScroll("scripts page")
	if got := eval(`String(document.querySelectorAll("#scripts-table tbody tr").length)`); got != "3" {
		t.Errorf("library rows %s, want 3", got)
	}
	shot("scripts")

	step("new script", chromedp.Click(chromedp.ID("new-script")), chromedp.WaitVisible(chromedp.ID("script-body")))
	noProblems("new script page")
	step("name it", chromedp.SendKeys(chromedp.ID("script-name"), "Check services"),
		chromedp.SendKeys(chromedp.ID("script-category"), "Diagnostics"),
		chromedp.SendKeys(chromedp.ID("script-description"), "Says whether each service named in the arguments is active"),
		chromedp.SetValue(chromedp.ID("script-language"), "bash"),
		chromedp.SetValue(chromedp.ID("script-target"), "linux"),
		chromedp.SendKeys(chromedp.ID("script-args"), "sshd\ncron"))

	step("type the first line", chromedp.Focus(chromedp.ID("script-body")), chromedp.KeyEvent("for s in \"$@\"; do\n"))
	tab(false)
	if got := eval(`document.activeElement.id`); got != "script-body" {
		t.Fatalf("after Tab the focus is on %q, want it still in the body", got)
	}
	step("type the rest", chromedp.KeyEvent("systemctl is-active \"$s\"\ndone\n"))
	want := "for s in \"$@\"; do\n    systemctl is-active \"$s\"\ndone\n"
	if got := body(); got != want {
		t.Fatalf("body after typing %q, want %q", got, want)
	}
	// Shift+Tab outdents the line the caret is on, Tab indents it again.
	eval(`(function () { var b = document.getElementById("script-body"); var i = b.value.indexOf("systemctl") + 3; b.setSelectionRange(i, i); return ""; })()`)
	tab(true)
	if got := body(); got != "for s in \"$@\"; do\nsystemctl is-active \"$s\"\ndone\n" {
		t.Errorf("body after Shift+Tab %q, want the line outdented", got)
	}
	tab(false)
	if got := body(); got != "for s in \"$@\"; do\nsys    temctl is-active \"$s\"\ndone\n" {
		// A Tab with no selection inserts at the caret, as editors do.
		t.Errorf("body after Tab at the caret %q, want four spaces there", got)
	}
	// A selection of several lines is indented and outdented as a block.
	eval(`(function () { var b = document.getElementById("script-body"); b.value = ` + "`" + `for s in "$@"; do\nsystemctl is-active "$s"\ndone\n` + "`" + `; b.setSelectionRange(0, b.value.length); return ""; })()`)
	tab(false)
	if got := body(); got != "    for s in \"$@\"; do\n    systemctl is-active \"$s\"\n    done\n" {
		t.Errorf("body after Tab on a selection %q, want every line indented", got)
	}
	tab(true)
	if got := body(); got != "for s in \"$@\"; do\nsystemctl is-active \"$s\"\ndone\n" {
		t.Errorf("body after Shift+Tab on a selection %q, want every line back", got)
	}
	eval(`(function () { var b = document.getElementById("script-body"); var i = b.value.indexOf("systemctl"); b.setSelectionRange(i, i); return ""; })()`)
	tab(false)
	if got := body(); got != want {
		t.Fatalf("body before saving %q, want %q", got, want)
	}
	// Esc gives the next Tab back to the page: the editor is no trap.
	step("escape", chromedp.KeyEvent("\x1b"))
	tab(false)
	if got := eval(`document.activeElement.id`); got == "script-body" {
		t.Error("Tab after Esc stayed in the body, want the focus moved on")
	}
	noProblems("editor")

	step("save", chromedp.Click(chromedp.ID("save-script")))
	waitForPage("version 1 saved", `(document.getElementById("script-notice") || {}).textContent === "Saved as version 1."`)
	if got := body(); got != want {
		t.Errorf("saved body %q, want %q", got, want)
	}

	// Edit: a line more, saved as version 2.
	eval(`(function () { var b = document.getElementById("script-body"); b.focus(); b.setSelectionRange(b.value.length, b.value.length); return ""; })()`)
	step("add a line", chromedp.KeyEvent("echo checked\n"))
	step("save again", chromedp.Click(chromedp.ID("save-script")))
	waitForPage("version 2 saved", `(document.getElementById("script-notice") || {}).textContent === "Saved as version 2."`)
	waitFor("two versions listed", `document.querySelectorAll("#versions-table tbody tr").length === 2`)
	if got := hb.text("#versions-table tbody tr:first-child td"); got != "2 current" {
		t.Errorf("first version row %q, want 2 (current)", got)
	}
	if got := hb.text("#script-version"); got != "2" {
		t.Errorf("version shown %q, want 2", got)
	}
	noProblems("script page")
	noScroll("script page")
	shot("script-editor")
}
