package api_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"

	"testing"

	"github.com/cofferhq/coffer"
)

// historyCaps gives each grant of a case the history capability at random,
// from its own generator, so that the access property test's seed still
// makes the same cases.
func historyCaps(rng *rand.Rand, c *propCase) {
	for i := range c.grants {
		if rng.IntN(2) == 0 {
			c.grants[i].Caps = append(c.grants[i].Caps, "history")
		}
	}
}

// historyApp is a right of the caller that gives `history`: the rows it
// matches (all its conditions) and the columns it reads.
type historyApp struct {
	conds []string
	cols  map[string]bool
}

// historyApps are the caller's rights that give `history`: the editor role
// and grants with the capability (viewers have none).
func (w *accessWorld) historyApps(c propCase) []historyApp {
	var apps []historyApp
	if c.role == "editor" {
		all := map[string]bool{}
		for _, col := range propCols {
			all[col] = true
		}
		apps = append(apps, historyApp{cols: all})
	}
	for _, g := range w.applicable(c) {
		if !slices.Contains(g.Caps, "history") {
			continue
		}
		a := historyApp{conds: []string{g.Rows}, cols: map[string]bool{}}
		for _, col := range propCols {
			if g.View && !slices.Contains([]string{"owner", "age", "note"}, col) {
				continue
			}
			r, has := g.Columns[col]
			if !has {
				r = g.Columns["*"]
			}
			if r == "read" || r == "write" {
				a.cols[col] = true
			}
		}
		if g.View {
			a.conds = append(a.conds, "age >= 30")
		}
		apps = append(apps, a)
	}
	return apps
}

// readHistory reads the whole history of table Staff with key.
func (w *accessWorld) readHistory(key string) (*Response, []*coffer.HistoryEntry) {
	var out []*coffer.HistoryEntry
	for cursor := ""; ; {
		r := w.Do("GET", "/api/v1/notebooks/"+w.nb+"/history?table=Staff&limit=500"+cursor, key, nil)
		if r.Status != http.StatusOK {
			return r, nil
		}
		var p coffer.HistoryPage
		r.JSON(&p)
		out = append(out, p.Entries...)
		if p.NextCursor == nil {
			return r, out
		}
		cursor = "&cursor=" + *p.NextCursor
	}
}

// checkHistory reads the table's history as the caller of a case and
// compares it with the reference: of the changes the owner sees (every
// one), exactly those to a record that a right of the caller giving
// `history` matches now, and to a column that right reads (or to the
// record's existence). Without such a right, 403; without any right, 404.
func (w *accessWorld) checkHistory(t *testing.T, c propCase) string {
	apps := w.historyApps(c)
	resp, got := w.readHistory(c.user.key)
	switch {
	case c.role == "" && len(w.applicable(c)) == 0:
		if resp.Status != http.StatusNotFound {
			return fmt.Sprintf("history of a notebook the caller cannot see: status %d, want 404: %s", resp.Status, resp.Body)
		}
		return ""
	case len(apps) == 0:
		if resp.Status != http.StatusForbidden {
			return fmt.Sprintf("history without the history capability: status %d, want 403: %s", resp.Status, resp.Body)
		}
		return ""
	case resp.Status != http.StatusOK:
		return fmt.Sprintf("history: status %d: %s", resp.Status, resp.Body)
	}
	_, all := w.readHistory(w.owner)
	rows := map[string]map[string]any{}
	for _, r := range w.records {
		rows[r["id"].(string)] = r
	}
	env := w.env(c)
	var want, have []string
	for _, e := range all {
		for _, ch := range e.Changes {
			row := rows[ch.Record]
			if row != nil && slices.ContainsFunc(apps, func(a historyApp) bool {
				return (ch.ColumnID == "" || a.cols[ch.Column]) && w.eval(t, a.conds, env, row)
			}) {
				want = append(want, historyLine(e, ch))
			}
		}
	}
	for _, e := range got {
		if len(e.Changes) == 0 {
			return fmt.Sprintf("history shows action %d with no change", e.Seq)
		}
		for _, col := range propCols {
			if strings.Contains(e.Summary, col) && !slices.ContainsFunc(e.Changes, func(ch *coffer.HistoryChange) bool { return ch.Column == col }) {
				return fmt.Sprintf("history summary %q names %s, which no change shown to the caller is about", e.Summary, col)
			}
		}
		for _, ch := range e.Changes {
			have = append(have, historyLine(e, ch))
		}
	}
	if !slices.Equal(have, want) {
		return fmt.Sprintf("history shows\n  %s\nthe reference\n  %s", strings.Join(have, "\n  "), strings.Join(want, "\n  "))
	}
	return ""
}

// historyLine describes one change of an entry.
func historyLine(e *coffer.HistoryEntry, ch *coffer.HistoryChange) string {
	return fmt.Sprintf("%d %s %s %s %s → %s", e.Seq, e.Kind, ch.Record, ch.Column, jsonText(ch.Old), jsonText(ch.New))
}

func jsonText(v []byte) string {
	if v == nil {
		return "null"
	}
	return string(v)
}
