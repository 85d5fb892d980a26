package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Helpers of the filter, undo, live-update and page-security tests.

// liveWorld is a server with an owner, a notebook and a table People
// (Name text, Age number, Team single select, Salary number, Start date)
// holding a few records, made through the API.
type liveWorld struct {
	s       *Server
	owner   *Client
	ownerPw string
	nb      string // notebook id
	table   string // table id
	cols    map[string]string
	recs    map[string]string // record id by Name
}

var people = []struct {
	Name   string
	Age    int
	Team   string
	Salary int
}{
	{"Ada Lovelace", 36, "red", 91111},
	{"Grace Hopper", 45, "blue", 92222},
	{"Linus Torvalds", 28, "red", 93333},
	{"Margaret Hamilton", 33, "green", 94444},
	{"Barbara Liskov", 52, "blue", 95555},
}

func mustLiveWorld(t *testing.T) *liveWorld {
	t.Helper()
	chromium(t)
	s := startServer(t)
	w := &liveWorld{s: s, ownerPw: "owner quietly paints seven blue lanterns", cols: map[string]string{}, recs: map[string]string{}}
	s.CreateUser(t, "owner@example.com", "Olive Owner", w.ownerPw, false)
	w.owner = s.Login(t, "owner@example.com", w.ownerPw)
	var nb struct{ ID string }
	w.owner.Do("POST", "/api/v1/notebooks", map[string]any{"name": "Staff"}, &nb)
	w.nb = nb.ID
	var tb struct {
		ID      string
		Columns []struct{ ID, Name string }
	}
	w.owner.Do("POST", w.nbPath()+"/tables", map[string]any{"name": "People", "columns": []map[string]any{
		{"name": "Name", "type": "text"},
		{"name": "Age", "type": "number"},
		{"name": "Team", "type": "single_select", "options": map[string]any{"choices": []string{"red", "blue", "green"}}},
		{"name": "Salary", "type": "number"},
		{"name": "Start date", "type": "date"},
	}}, &tb)
	w.table = tb.ID
	for _, c := range tb.Columns {
		w.cols[c.Name] = c.ID
	}
	for _, p := range people {
		var rec struct{ ID string }
		w.owner.Do("POST", w.tablePath()+"/records", map[string]any{"fields": map[string]any{"Name": p.Name, "Age": p.Age, "Team": p.Team, "Salary": p.Salary}}, &rec)
		w.recs[p.Name] = rec.ID
	}
	return w
}

func (w *liveWorld) nbPath() string    { return "/api/v1/notebooks/" + w.nb }
func (w *liveWorld) tablePath() string { return w.nbPath() + "/tables/" + w.table }
func (w *liveWorld) pageURL() string   { return w.s.URL + "/n/" + w.nb + "/t/" + w.table }

// userID returns the id of the signed-in user of c.
func userID(c *Client) string {
	var me struct{ ID string }
	c.Do("GET", "/api/v1/auth/me", nil, &me)
	return me.ID
}

// listNames returns the Name of each record of an API list with filter
// (and sort), in order.
func (w *liveWorld) listNames(c *Client, filter, sort string) []string {
	var list struct {
		Records []struct {
			Fields map[string]any
		}
	}
	c.Do("GET", w.tablePath()+"/records?"+url.Values{"filter": {filter}, "sort": {sort}, "limit": {"500"}}.Encode(), nil, &list)
	var names []string
	for _, r := range list.Records {
		names = append(names, fmt.Sprint(r.Fields["Name"]))
	}
	return names
}

// signIn opens target signed out, is sent to the sign-in page, signs in
// there as a person does (e-mail, password, "Sign in") and is brought back
// to target.
func signIn(b *Browser, s *Server, email, password, target string) {
	b.t.Helper()
	b.Run("sign in "+email,
		chromedp.Navigate(target),
		chromedp.WaitVisible(headingNamed("Sign in"), chromedp.BySearch),
		fillLabelled("E-mail address", email),
		fillLabelled("Password", password),
		clickNamed("Sign in"),
	)
	want := strings.TrimPrefix(target, s.URL)
	waitFor(b, "back at "+want, fmt.Sprintf(`location.pathname + location.search === %q`, want), 30*time.Second)
}

// eval runs js in the page and decodes its result into out.
func eval(b *Browser, js string, out any) {
	b.t.Helper()
	b.Run("eval", chromedp.Evaluate(js, out, authAwaitPromise))
}

// gridJS defines, in the page, columnTexts(name): the texts of the cells of
// the column whose header is named name, in row order, as a person reads
// the grid (role=columnheader / role=gridcell, by position or aria-colindex).
const gridJS = `(() => {
  window.__columnTexts = (name) => {
    const grid = document.querySelector('[role=grid]');
    if (!grid) return null;
    const heads = [...grid.querySelectorAll('[role=columnheader]')];
    const h = heads.find(e => (e.getAttribute('aria-label') || e.textContent).trim() === name || e.textContent.trim().startsWith(name));
    if (!h) return null;
    const ci = h.getAttribute('aria-colindex');
    const rows = [...grid.querySelectorAll('[role=row]')].filter(r => r.querySelector('[role=gridcell]'));
    rows.sort((a, b) => (Number(a.getAttribute('aria-rowindex')) || 0) - (Number(b.getAttribute('aria-rowindex')) || 0));
    const hrow = h.closest('[role=row]');
    const hpos = hrow ? [...hrow.querySelectorAll('[role=columnheader],[role=rowheader],[role=gridcell]')].indexOf(h) : heads.indexOf(h);
    return rows.map(r => {
      const cells = [...r.querySelectorAll('[role=gridcell],[role=rowheader]')];
      const c = ci ? cells.find(x => x.getAttribute('aria-colindex') === ci) : cells[hpos];
      return c ? c.textContent.trim() : '';
    });
  };
  return true;
})()`

// columnTexts returns the texts of a grid column's cells as shown.
func columnTexts(b *Browser, name string) []string {
	b.t.Helper()
	var ok bool
	var texts []string
	b.Run("read column "+name, chromedp.Evaluate(gridJS, &ok), chromedp.Evaluate(fmt.Sprintf("window.__columnTexts(%q) || []", name), &texts))
	return texts
}

// sseLog records every server-sent event message the page received (the
// harness's response bodies cannot hold a stream that never ends).
type sseLog struct {
	mu   sync.Mutex
	msgs []string
}

func listenSSE(b *Browser) *sseLog {
	l := &sseLog{}
	chromedp.ListenTarget(b.Ctx, func(ev any) {
		if e, ok := ev.(*network.EventEventSourceMessageReceived); ok {
			l.mu.Lock()
			l.msgs = append(l.msgs, e.EventName+": "+e.Data)
			l.mu.Unlock()
		}
	})
	return l
}

func (l *sseLog) Messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.msgs...)
}

// waitSSE waits until an event message containing sub arrived.
func (l *sseLog) waitSSE(t *testing.T, sub string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, m := range l.Messages() {
			if strings.Contains(m, sub) {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no event stream message with %q; got %q", sub, l.Messages())
}

// outerHTML returns the page's whole DOM as markup.
func outerHTML(b *Browser) string {
	b.t.Helper()
	var html string
	b.Run("read the DOM", chromedp.Evaluate(`document.documentElement.outerHTML`, &html))
	return html
}

// ctrlKey presses key with Ctrl (and Shift) held, as a person does.
func ctrlKey(key string, shift bool) chromedp.Action {
	mods := []input.Modifier{input.ModifierCtrl}
	if shift {
		mods = append(mods, input.ModifierShift)
	}
	return chromedp.KeyEvent(key, chromedp.KeyModifiers(mods...))
}

// clearField empties a text field as typing would (an input event follows).
func clearField(sel string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.focus(); e.value = ""; e.dispatchEvent(new Event("input", {bubbles: true})); return true })()`, sel), nil)
}

// meBeforeSignIn is the one expected problem of a page opened before
// signing in: the app asks who is signed in, and the answer is 401.
func meBeforeSignIn(s *Server) string {
	return "status of 401 (Unauthorized) " + s.URL + "/api/v1/auth/me"
}
