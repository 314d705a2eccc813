//go:build darwin

package tray

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"structs"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
	"github.com/ebitengine/purego/objc"
)

// The macOS menu bar item, drawn with AppKit through purego's Objective-C
// runtime calls, so that agents cross-compiled with cgo off have it too.
// What it draws and what a click means is decided in menubar.go (tested
// on every OS); this file only carries it out.

// init pins the main goroutine to the main thread: AppKit works there
// only, and cli runs the UI on the main goroutine. Pinning later, in
// show, could be too late: the goroutine may have moved by then. The
// agent's other roles do not notice (their main goroutine only waits).
func init() { runtime.LockOSThread() }

// Supported reports whether this build can show a tray icon.
func Supported() error { return nil }

// AppKit constants used here (values from the macOS SDK headers).
const (
	nsApplicationActivationPolicyAccessory = 1    // no Dock icon, no main menu
	nsVariableStatusItemLength             = -1.0 // the item as wide as its content
	nsEventTypeApplicationDefined          = 15
	// iconPoints is the drawn 32 px icon's size in the menu bar, in
	// points: sharp on Retina screens (2x), the size fyne.io/systray uses.
	iconPoints = 16
)

// nsSize is Foundation's NSSize (CGFloat is a double on 64-bit macOS).
type nsSize struct {
	_             structs.HostLayout
	Width, Height float64
}

// nsPoint is Foundation's NSPoint.
type nsPoint struct {
	_    structs.HostLayout
	X, Y float64
}

// show runs the menu bar item with model m until ctx ends or the policy
// hides the icon. It runs on the main thread (see init), which runs
// NSApplication's loop; the polling and clicks run in one goroutine
// beside it, and hand their drawing to the main thread through a
// mainQueue woken with dispatch_async_f on the main dispatch queue.
func (u *UI) show(ctx context.Context, m Model) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ak, err := loadAppKit()
	if err != nil {
		return err
	}
	if !objc.Send[bool](objc.ID(objc.GetClass("NSThread")), objc.RegisterName("isMainThread")) {
		return errors.New("the macOS tray must run on the main thread")
	}

	q := &mainQueue{}
	// One callback for the life of the process: purego never frees them.
	drain := purego.NewCallback(func(uintptr) { withPool(q.drain) })
	q.wake = func() { ak.dispatchAsyncF(ak.mainQueue, 0, drain) }

	item := &cocoaItem{}
	bar := newMenuBar(q, item, u.Log)
	target, err := newTarget(bar)
	if err != nil {
		return err
	}
	item.target = target
	app := objc.ID(objc.GetClass("NSApplication")).Send(objc.RegisterName("sharedApplication"))
	withPool(func() {
		app.Send(objc.RegisterName("setActivationPolicy:"), nsApplicationActivationPolicyAccessory)
	})
	// The item is made, and first drawn, once run has finished launching
	// the application (as applicationDidFinishLaunching: would): the
	// queue runs in order, so every later draw finds it.
	q.post(item.create)
	bar.draw(nil, m, true)

	var hidden bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		hidden = u.loop(ctx, bar, m, 0)
		// Whatever ended the loop ends NSApplication's run below; an open
		// menu runs its own tracking loop, so it is closed first.
		q.post(func() {
			item.cancelMenu()
			stopApp(app)
		})
	}()
	app.Send(objc.RegisterName("run"))
	// run returned: because of stopApp, or AppKit ended it; either way
	// the loop must end too, and nothing is drained any more.
	cancel()
	wg.Wait()
	q.close()
	withPool(item.remove)
	if hidden {
		return ErrHidden
	}
	return nil
}

// appKit is what show loads: the frameworks (which register their
// classes with the Objective-C runtime) and the dispatch functions.
type appKit struct {
	dispatchAsyncF func(queue, context, work uintptr)
	mainQueue      uintptr // dispatch_get_main_queue() is &_dispatch_main_q
}

func loadAppKit() (*appKit, error) {
	for _, lib := range []string{
		"/System/Library/Frameworks/Foundation.framework/Foundation",
		"/System/Library/Frameworks/AppKit.framework/AppKit",
	} {
		// The frameworks live in the dyld shared cache on macOS 11 and
		// later, not as files; dlopen finds them there by this path.
		if _, err := purego.Dlopen(lib, purego.RTLD_NOW|purego.RTLD_GLOBAL); err != nil {
			return nil, fmt.Errorf("load %s: %w", lib, err)
		}
	}
	sys, err := purego.Dlopen("/usr/lib/libSystem.B.dylib", purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("load libSystem: %w", err)
	}
	ak := &appKit{}
	if ak.mainQueue, err = purego.Dlsym(sys, "_dispatch_main_q"); err != nil {
		return nil, fmt.Errorf("find the main dispatch queue: %w", err)
	}
	async, err := purego.Dlsym(sys, "dispatch_async_f")
	if err != nil {
		return nil, fmt.Errorf("find dispatch_async_f: %w", err)
	}
	purego.RegisterFunc(&ak.dispatchAsyncF, async)
	for _, name := range []string{"NSApplication", "NSStatusBar", "NSMenu", "NSMenuItem", "NSImage", "NSData", "NSString", "NSEvent", "NSAutoreleasePool", "NSThread"} {
		if objc.GetClass(name) == 0 {
			return nil, fmt.Errorf("AppKit has no class %s", name)
		}
	}
	return ak, nil
}

// withPool runs f inside an autorelease pool, for the objects that
// AppKit's convenience constructors hand back autoreleased.
func withPool(f func()) {
	pool := objc.ID(objc.GetClass("NSAutoreleasePool")).Send(objc.RegisterName("new"))
	defer pool.Send(objc.RegisterName("drain"))
	f()
}

// stopApp ends NSApplication's run. stop: only raises a flag that run
// looks at after the next event, so an empty event is posted for it.
func stopApp(app objc.ID) {
	app.Send(objc.RegisterName("stop:"), objc.ID(0))
	ev := objc.ID(objc.GetClass("NSEvent")).Send(
		objc.RegisterName("otherEventWithType:location:modifierFlags:timestamp:windowNumber:context:subtype:data1:data2:"),
		uint(nsEventTypeApplicationDefined), // NSEventType
		nsPoint{},                           // location
		uint(0),                             // NSEventModifierFlags
		float64(0),                          // NSTimeInterval timestamp
		int(0),                              // NSInteger windowNumber
		objc.ID(0),                          // context
		int16(0),                            // short subtype
		int(0), int(0),                      // NSInteger data1, data2
	)
	app.Send(objc.RegisterName("postEvent:atStart:"), ev, true)
}

// newTarget makes the object the menu items send their action to and the
// menu's delegate: an instance of a class registered at run time whose
// methods call bar. Each call registers a new class (the runtime never
// drops one, and its methods hold their bar), named after bar's address,
// which stays unique since the class keeps bar alive.
func newTarget(bar *menuBar) (objc.ID, error) {
	name := fmt.Sprintf("StewardTrayTarget%x", uintptr(unsafe.Pointer(bar)))
	var protocols []*objc.Protocol
	// The protocol object exists only when something in the process
	// refers to it; AppKit calls menuWillOpen: either way (it asks
	// respondsToSelector:).
	if p := objc.GetProtocol("NSMenuDelegate"); p != nil {
		protocols = append(protocols, p)
	}
	class, err := objc.RegisterClass(name, objc.GetClass("NSObject"), protocols, nil, []objc.MethodDef{
		{
			Cmd: objc.RegisterName("itemClicked:"),
			Fn: func(_ objc.ID, _ objc.SEL, sender objc.ID) {
				bar.click(objc.Send[int](sender, objc.RegisterName("tag")))
			},
		},
		{
			Cmd: objc.RegisterName("menuWillOpen:"),
			Fn:  func(objc.ID, objc.SEL, objc.ID) { bar.menuOpened() },
		},
	})
	if err != nil {
		return 0, fmt.Errorf("register the menu's target class: %w", err)
	}
	// Kept for the life of the process: menus hold their target and
	// delegate weakly.
	return objc.ID(class).Send(objc.RegisterName("new")), nil
}

// cocoaItem is the NSStatusItem; its methods run on the main thread.
type cocoaItem struct {
	target objc.ID // the menu's target and delegate
	item   objc.ID // NSStatusItem, retained
	button objc.ID // its NSStatusBarButton
	menu   objc.ID // NSMenu, retained
}

var _ statusItem = (*cocoaItem)(nil)

// create makes the item, empty.
func (c *cocoaItem) create() {
	bar := objc.ID(objc.GetClass("NSStatusBar")).Send(objc.RegisterName("systemStatusBar"))
	// The status bar does not keep the item: retain it, or it vanishes.
	c.item = bar.Send(objc.RegisterName("statusItemWithLength:"), float64(nsVariableStatusItemLength)).
		Send(objc.RegisterName("retain"))
	// The menu bar remembers an item the user took out (Cmd-drag, where
	// allowed) as hidden, across restarts: show it at every start, as
	// fyne.io/systray does.
	c.item.Send(objc.RegisterName("setVisible:"), true)
	c.button = c.item.Send(objc.RegisterName("button"))
	c.menu = objc.ID(objc.GetClass("NSMenu")).Send(objc.RegisterName("alloc")).
		Send(objc.RegisterName("initWithTitle:"), nsString(""))
	// Items are enabled or not as setMenu says, not by AppKit's
	// validation (which would enable every item that has a target).
	c.menu.Send(objc.RegisterName("setAutoenablesItems:"), false)
	c.menu.Send(objc.RegisterName("setDelegate:"), c.target)
	c.item.Send(objc.RegisterName("setMenu:"), c.menu)
}

func (c *cocoaItem) setIcon(s State) {
	png := iconPNG(s)
	data := objc.ID(objc.GetClass("NSData")).Send(objc.RegisterName("dataWithBytes:length:"),
		unsafe.Pointer(unsafe.SliceData(png)), uint(len(png)))
	runtime.KeepAlive(png)
	img := objc.ID(objc.GetClass("NSImage")).Send(objc.RegisterName("alloc")).
		Send(objc.RegisterName("initWithData:"), data)
	if img == 0 {
		return // not a PNG AppKit reads; never the case for ours
	}
	img.Send(objc.RegisterName("setSize:"), nsSize{Width: iconPoints, Height: iconPoints})
	// Coloured: a template image would be drawn in the menu bar's
	// colour, and the state is in the colour.
	img.Send(objc.RegisterName("setTemplate:"), false)
	c.button.Send(objc.RegisterName("setImage:"), img)
	img.Send(objc.RegisterName("release"))
}

func (c *cocoaItem) setTooltip(text string) {
	c.button.Send(objc.RegisterName("setToolTip:"), nsString(text))
}

func (c *cocoaItem) setMenu(items []itemSpec) {
	c.menu.Send(objc.RegisterName("removeAllItems"))
	for _, it := range items {
		if it.Separator {
			c.menu.Send(objc.RegisterName("addItem:"),
				objc.ID(objc.GetClass("NSMenuItem")).Send(objc.RegisterName("separatorItem")))
			continue
		}
		var action objc.SEL
		if it.Tag != 0 {
			action = objc.RegisterName("itemClicked:")
		}
		mi := objc.ID(objc.GetClass("NSMenuItem")).Send(objc.RegisterName("alloc")).
			Send(objc.RegisterName("initWithTitle:action:keyEquivalent:"), nsString(it.Title), action, nsString(""))
		if it.Tag != 0 {
			mi.Send(objc.RegisterName("setTarget:"), c.target)
			mi.Send(objc.RegisterName("setTag:"), it.Tag)
		}
		mi.Send(objc.RegisterName("setEnabled:"), it.Enabled)
		c.menu.Send(objc.RegisterName("addItem:"), mi)
		mi.Send(objc.RegisterName("release")) // the menu holds it
	}
}

// cancelMenu closes the menu if the user has it open.
func (c *cocoaItem) cancelMenu() {
	c.menu.Send(objc.RegisterName("cancelTracking"))
}

// remove takes the item out of the menu bar.
func (c *cocoaItem) remove() {
	if c.item == 0 {
		return
	}
	objc.ID(objc.GetClass("NSStatusBar")).Send(objc.RegisterName("systemStatusBar")).
		Send(objc.RegisterName("removeStatusItem:"), c.item)
	c.item.Send(objc.RegisterName("release"))
	c.menu.Send(objc.RegisterName("release"))
	c.item, c.button, c.menu = 0, 0, 0
}

// nsString makes an autoreleased NSString (purego passes s as a C string,
// copied with its terminating NUL for the call; NSString copies it).
func nsString(s string) objc.ID {
	return objc.ID(objc.GetClass("NSString")).Send(objc.RegisterName("stringWithUTF8String:"), s)
}
