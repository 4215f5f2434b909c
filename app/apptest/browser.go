package apptest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ChromiumPath is where Debian's chromium package installs the browser (.ci/run installs it).
const ChromiumPath = "/usr/bin/chromium"

// Viewport is a window size a page must work at.
type Viewport struct {
	Name          string
	Width, Height int64
	// Mobile emulates a phone: the page's <meta name="viewport"> applies as on a real one, so a
	// page without it is laid out 980 px wide and fails NoHorizontalScroll.
	Mobile bool
}

// Laptop is the common laptop window every page is checked at.
func Laptop() Viewport { return Viewport{Name: "laptop", Width: 1366, Height: 900} }

// Phone is the narrowest phone every page must be readable at: 390 CSS pixels (iPhone 12 to 15).
func Phone() Viewport { return Viewport{Name: "phone", Width: 390, Height: 844, Mobile: true} }

// Problem is something a page must never do: a console error, an uncaught exception or promise
// rejection, or an error in the browser's own log (a resource that failed to load, the favicon
// included; a refusal by the Content-Security-Policy).
type Problem struct {
	Kind string // "console.error", "exception", "log.network", "log.security", ...
	Text string
	URL  string // the script or resource, when the browser says
	Line int64  // 1-based, 0 when unknown
	Page string // the page that was open
}

// String is the problem as a failing test reports it: what, where, and on which page.
func (p Problem) String() string {
	s := p.Kind + ": " + p.Text
	switch {
	case p.URL != "" && p.Line > 0:
		s += fmt.Sprintf(" (%s:%d)", p.URL, p.Line)
	case p.URL != "":
		s += " (" + p.URL + ")"
	}
	return s + " on " + p.Page
}

// Browser is one headless Chromium with one tab, driven the way a person would use a page:
// open it, click, type, press keys, wait for text. It holds every page to the same bar: no
// Problem while it is open (Open checks the page before; the test's end checks the last one,
// or call NoProblems), and, when asked, no horizontal scroll. If the test fails, a full-page
// screenshot of the last page is saved and its path logged.
//
// The methods take the test so that a failure stops it at the line that asked; every wait is
// bounded by WaitFor.
type Browser struct {
	tab      context.Context // the tab's chromedp context (chromedp wants it passed to each call)
	viewport Viewport

	mu       sync.Mutex
	page     string    // the URL last opened
	problems []Problem // since the last check
}

// StartBrowser starts Chromium (ChromiumPath) with a fresh profile and the Laptop viewport, and
// stops it when the test ends. Where Chromium is missing the test is skipped, unless CI or
// MOSPAY_REQUIRE_BROWSER is set: then it fails, so that CI never passes without the browser
// tests.
func StartBrowser(t testing.TB) *Browser {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("MOSPAY_REQUIRE_BROWSER") != "" {
			t.Fatalf("browser tests need Chromium at %s (apt-get install chromium): %v", ChromiumPath, err)
		}
		t.Skipf("skipped: no Chromium at %s (apt-get install chromium; with CI or MOSPAY_REQUIRE_BROWSER set this fails)", ChromiumPath)
	}
	profile := t.TempDir() // removed after the browser has stopped (cleanups run last first)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(ChromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // root in containers and CI; the pages are our own
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), // containers have a small /dev/shm
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(profile),
	)
	b := &Browser{}
	tab, cancelTab := chromedp.NewContext(alloc, chromedp.WithListener(b.onEvent))
	b.tab = tab
	stop := func() {
		cancelTab()
		cancelAlloc()
	}
	// The first call starts the browser and must not have a timeout (it would stop the browser).
	if err := chromedp.Do(tab); err != nil {
		stop()
		t.Fatalf("start Chromium: %v", err)
	}
	t.Cleanup(func() {
		b.NoProblems(t) // the last page
		if t.Failed() {
			b.saveScreenshot(t)
		}
		stop()
	})
	b.SetViewport(t, Laptop())
	return b
}

// onEvent collects Problems; it runs in chromedp's read loop, so it only records.
func (b *Browser) onEvent(ev any) {
	var p Problem
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var parts []string
		for _, a := range ev.Args {
			switch {
			case a.Description != "":
				parts = append(parts, a.Description)
			case len(a.Value) > 0:
				parts = append(parts, strings.Trim(string(a.Value), `"`))
			default:
				parts = append(parts, string(a.Type))
			}
		}
		p = Problem{Kind: "console." + string(ev.Type), Text: strings.Join(parts, " ")}
		if st := ev.StackTrace; st != nil && len(st.CallFrames) > 0 {
			p.URL, p.Line = st.CallFrames[0].URL, st.CallFrames[0].LineNumber+1
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		p = Problem{Kind: "exception", Text: d.Text, URL: d.URL, Line: d.LineNumber + 1}
		if d.Exception != nil && d.Exception.Description != "" {
			p.Text += " " + strings.SplitN(d.Exception.Description, "\n", 2)[0]
		}
	case *log.EventEntryAdded:
		if ev.Entry.Level != log.EntryLevelError {
			return
		}
		p = Problem{Kind: "log." + string(ev.Entry.Source), Text: ev.Entry.Text, URL: ev.Entry.URL}
		if ev.Entry.LineNumber > 0 {
			p.Line = ev.Entry.LineNumber + 1
		}
	default:
		return
	}
	b.mu.Lock()
	p.Page = b.page
	b.problems = append(b.problems, p)
	b.mu.Unlock()
}

// takeProblems returns the Problems since the last check and forgets them.
func (b *Browser) takeProblems() []Problem {
	b.mu.Lock()
	defer b.mu.Unlock()
	ps := b.problems
	b.problems = nil
	return ps
}

// run runs chromedp actions on the tab, bounded by WaitFor.
func (b *Browser) run(actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.tab, WaitFor)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// Run runs chromedp actions on the tab, for what the helpers here do not cover; it fails the
// test on error.
func (b *Browser) Run(t testing.TB, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := b.run(actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// SetViewport resizes the window (emulating a phone when v.Mobile); pages opened afterwards,
// and the open one, are laid out at that size.
func (b *Browser) SetViewport(t testing.TB, v Viewport) {
	t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateLandscape}
	if v.Mobile {
		opts = []chromedp.EmulateViewportOption{chromedp.EmulatePortrait, chromedp.EmulateMobile}
	}
	if err := b.run(chromedp.EmulateViewport(v.Width, v.Height, opts...)); err != nil {
		t.Fatalf("browser: viewport %s %dx%d: %v", v.Name, v.Width, v.Height, err)
	}
	b.viewport = v
}

// Open checks the open page for Problems (see NoProblems), then loads url and waits for its
// load event. An answer other than 2xx fails the test.
func (b *Browser) Open(t testing.TB, url string) {
	t.Helper()
	b.NoProblems(t)
	b.mu.Lock()
	b.page = url
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(b.tab, WaitFor)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		t.Fatalf("browser: open %s: %v", url, err)
	}
	if res == nil || res.Status < 200 || res.Status > 299 {
		status := int64(0)
		if res != nil {
			status = res.Status
		}
		t.Fatalf("browser: open %s: HTTP %d", url, status)
	}
}

// NoProblems fails the test (without stopping it) for every Problem since the last check:
// Open calls it for the page it leaves, and the test's end for the last page.
func (b *Browser) NoProblems(t testing.TB) {
	t.Helper()
	// A round trip first: what the page reported before it is then recorded.
	_ = b.run(chromedp.Evaluate[chromedp.Void]("0"))
	for _, p := range b.takeProblems() {
		t.Errorf("browser: %s", p)
	}
}

// NoHorizontalScroll fails the test if the open page is wider than the window, or if a phone's
// layout is wider than the phone (a page without <meta name="viewport">).
func (b *Browser) NoHorizontalScroll(t testing.TB) {
	t.Helper()
	w := Eval[struct{ ScrollWidth, InnerWidth int64 }](t, b,
		`({scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth})`)
	if w.ScrollWidth > w.InnerWidth {
		t.Errorf("browser: %s scrolls sideways at %s width %d: the page is %d px wide", b.currentPage(), b.viewport.Name, w.InnerWidth, w.ScrollWidth)
	}
	if b.viewport.Width > 0 && w.InnerWidth > b.viewport.Width {
		t.Errorf("browser: %s is laid out %d px wide on a %d px %s: something is wider than the screen, or the page has no <meta name=\"viewport\">",
			b.currentPage(), w.InnerWidth, b.viewport.Width, b.viewport.Name)
	}
}

func (b *Browser) currentPage() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.page
}

// Eval evaluates a JavaScript expression in the open page and decodes its JSON value into T;
// an exception fails the test. A promise is awaited.
func Eval[T any](t testing.TB, b *Browser, expr string) T {
	t.Helper()
	v, err := eval[T](b, expr)
	if err != nil {
		t.Fatalf("browser: eval %s: %v", expr, err)
	}
	return v
}

func eval[T any](b *Browser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.tab, WaitFor)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// Click waits until the element matching the CSS selector is visible and enabled, then clicks
// its centre with the mouse, as a person would (an element under a modal dialog gets nothing).
func (b *Browser) Click(t testing.TB, selector string) {
	t.Helper()
	if err := b.run(
		chromedp.WaitEnabled(chromedp.CSS(selector)),
		chromedp.Click(chromedp.CSS(selector)),
	); err != nil {
		t.Fatalf("browser: click %s on %s: %v", selector, b.currentPage(), err)
	}
}

// Type focuses the element matching the CSS selector and types text into it, key by key.
func (b *Browser) Type(t testing.TB, selector, text string) {
	t.Helper()
	if err := b.run(chromedp.SendKeys(chromedp.CSS(selector), text)); err != nil {
		t.Fatalf("browser: type into %s on %s: %v", selector, b.currentPage(), err)
	}
}

// Press sends keys to whatever has the focus (kb.Tab, kb.Enter, kb.Escape from
// github.com/chromedp/chromedp/kb, or text).
func (b *Browser) Press(t testing.TB, keys string) {
	t.Helper()
	if err := b.run(chromedp.KeyEvent(keys)); err != nil {
		t.Fatalf("browser: press %q on %s: %v", keys, b.currentPage(), err)
	}
}

// WaitVisible waits until an element matching the CSS selector is shown.
func (b *Browser) WaitVisible(t testing.TB, selector string) {
	t.Helper()
	b.waitJS(t, "visible", selector, `!!document.querySelector(SEL)?.checkVisibility()`)
}

// WaitGone waits until no element matching the CSS selector is shown (hidden or removed).
func (b *Browser) WaitGone(t testing.TB, selector string) {
	t.Helper()
	b.waitJS(t, "gone", selector, `!document.querySelector(SEL)?.checkVisibility()`)
}

// WaitFocus waits until the element with the keyboard focus matches the CSS selector.
func (b *Browser) WaitFocus(t testing.TB, selector string) {
	t.Helper()
	b.waitJS(t, "focused", selector, `!!document.activeElement?.matches(SEL)`)
}

// waitJS polls a boolean expression in which SEL is the selector, as a JavaScript string. An
// error (the page reloading, say) counts as false until the deadline.
func (b *Browser) waitJS(t testing.TB, what, selector, expr string) {
	t.Helper()
	sel, _ := json.Marshal(selector)
	expr = strings.ReplaceAll(expr, "SEL", string(sel))
	var err error
	if !Within(WaitFor, func() bool {
		var ok bool
		ok, err = eval[bool](b, expr)
		return err == nil && ok
	}) {
		t.Fatalf("browser: %s never %s on %s (last error: %v)", selector, what, b.currentPage(), err)
	}
}

// Text is the visible text of the element matching the CSS selector (waiting for it to exist).
func (b *Browser) Text(t testing.TB, selector string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, WaitFor)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(selector), chromedp.NodeReady))
	if err != nil {
		t.Fatalf("browser: text of %s on %s: %v", selector, b.currentPage(), err)
	}
	return strings.TrimSpace(s)
}

// WaitText waits until the element matching the CSS selector is shown and its text contains
// want, and returns that text.
func (b *Browser) WaitText(t testing.TB, selector, want string) string {
	t.Helper()
	sel, _ := json.Marshal(selector)
	expr := fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e && e.checkVisibility() ? e.innerText : null })()`, sel)
	var last *string
	var err error
	if Within(WaitFor, func() bool {
		last, err = eval[*string](b, expr) // an error (the page reloading, say) is retried
		return err == nil && last != nil && strings.Contains(*last, want)
	}) {
		return strings.TrimSpace(*last)
	}
	if last == nil {
		t.Fatalf("browser: %s never shown on %s (waiting for %q; last error: %v)", selector, b.currentPage(), want, err)
	}
	t.Fatalf("browser: %s never said %q on %s; it says %q", selector, want, b.currentPage(), *last)
	return ""
}

// Screenshot saves a full-page PNG of the open page as name (under ScreenshotDir) and returns
// its path.
func (b *Browser) Screenshot(t testing.TB, name string) string {
	t.Helper()
	path, err := b.screenshot(name)
	if err != nil {
		t.Fatalf("browser: screenshot: %v", err)
	}
	return path
}

// ScreenshotDir is where screenshots go: $MOSPAY_SCREENSHOT_DIR, or mospay-screenshots in the
// system's temporary directory (kept after the test, unlike t.TempDir, so that it can be seen).
func ScreenshotDir() string {
	if d := os.Getenv("MOSPAY_SCREENSHOT_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "mospay-screenshots")
}

func (b *Browser) screenshot(name string) (string, error) {
	ctx, cancel := context.WithTimeout(b.tab, WaitFor)
	defer cancel()
	png, err := chromedp.Run(ctx, fullPage)
	if err != nil {
		return "", err
	}
	dir := ScreenshotDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(name, "_")+".png")
	return path, os.WriteFile(path, png, 0o644)
}

// saveScreenshot keeps the last page of a failed test.
func (b *Browser) saveScreenshot(t testing.TB) {
	name := fmt.Sprintf("%s-%s-%s", t.Name(), b.viewport.Name, time.Now().Format("150405.000"))
	path, err := b.screenshot(name)
	if err != nil {
		t.Logf("browser: no screenshot of %s: %v", b.currentPage(), err)
		return
	}
	t.Logf("browser: screenshot of %s at %s", b.currentPage(), path)
}

// fullPage captures the whole page, not only the window: with an emulated viewport Chromium
// clips captureBeyondViewport to the window unless it is given the page's size as the clip.
func fullPage(ctx context.Context, t *chromedp.Target) ([]byte, error) {
	m, err := cdp.Call(ctx, t, page.GetLayoutMetrics, cdp.Empty{})
	if err != nil {
		return nil, fmt.Errorf("layout metrics: %w", err)
	}
	size := m.CSSContentSize
	if size == nil {
		return nil, errors.New("layout metrics: no content size")
	}
	beyond := true
	shot, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
		Format:                page.CaptureScreenshotFormatPng,
		CaptureBeyondViewport: &beyond,
		Clip:                  &page.Viewport{X: 0, Y: 0, Width: size.Width, Height: size.Height, Scale: 1},
	})
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	return shot.Data, nil
}

// CORSRefused checks the open page for Problems (as NoProblems does), but takes the lines
// Chromium logs for a call to api that CORS refused (the request blocked, and the resource that
// failed to load) as expected: the test caused the refusal on purpose, and the page is checked
// for everything else. At least one such line must be there.
func (b *Browser) CORSRefused(t testing.TB, api string) {
	t.Helper()
	_ = b.run(chromedp.Evaluate[chromedp.Void]("0")) // a round trip: what the page reported is in
	seen := false
	for _, p := range b.takeProblems() {
		blocked := p.Kind == "log.javascript" && strings.HasPrefix(p.Text, "Access to fetch at '"+api+"/") &&
			strings.Contains(p.Text, "has been blocked by CORS policy")
		failed := p.Kind == "log.network" && strings.HasPrefix(p.URL, api+"/") && strings.Contains(p.Text, "net::ERR_FAILED")
		if blocked || failed {
			seen = seen || blocked
			continue
		}
		t.Errorf("browser: %s", p)
	}
	if !seen {
		t.Errorf("browser: no call from %s to %s was refused by CORS", b.currentPage(), api)
	}
}
