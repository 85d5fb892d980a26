package storetest

import (
	"context"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/filter"
)

// testClientMistakes calls every service method with the mistakes a client
// can make (no caller, garbage or foreign ids, unknown names, bad input)
// and checks the exact code of each answer. None may be EINTERNAL: that
// code is for bugs and infrastructure failures only.
func testClientMistakes(t *testing.T, open Opener) {
	s := open(t)
	e := newSetup(t, s, "Mistakes")
	tb := MustTable(t, e.ctx, s, e.nb, "T", col("Name", coffer.TypeText), col("N", coffer.TypeNumber))
	rec := MustRecord(t, e.ctx, s, e.nb, "T", map[string]any{"Name": "x"})
	view, err := s.CreateView(e.ctx, e.nb, "T", coffer.ViewInput{Name: "V"})
	if err != nil {
		t.Fatal(err)
	}
	strangerCtx, _ := MustUser(t, s)
	anon := context.Background()
	ctx, nb := e.ctx, e.nb
	name := "renamed"
	typ := coffer.TypeNumber

	garbageNotebooks := []string{"", "x", "nb_", coffer.NewID(coffer.PrefixNotebook), coffer.NewID(coffer.PrefixTable),
		"nb_../../coffer", "nb_' OR 1=1 --", strings.Repeat("n", 10_000), nb + " ", strings.ToUpper(nb)}
	garbageRefs := []string{"", "Nope", coffer.NewID(coffer.PrefixTable), coffer.NewID(coffer.PrefixColumn), coffer.NewID(coffer.PrefixView),
		`"; DROP TABLE x; --`, strings.Repeat("t", 10_000), "\x00", "\xff"}

	type call struct {
		name string
		fn   func() error
		want string
	}
	var calls []call
	add := func(name, want string, fn func() error) { calls = append(calls, call{name, fn, want}) }

	// Every method needs a caller.
	for _, c := range []context.Context{anon, coffer.WithCaller(anon, &coffer.Caller{Email: "x@example.com"})} {
		add("no caller/FindTables", coffer.EUNAUTHORIZED, func() error { _, err := s.FindTables(c, nb); return err })
		add("no caller/FindTable", coffer.EUNAUTHORIZED, func() error { _, err := s.FindTable(c, nb, "T"); return err })
		add("no caller/CreateTable", coffer.EUNAUTHORIZED, func() error { _, err := s.CreateTable(c, nb, coffer.TableInput{Name: "U"}); return err })
		add("no caller/UpdateTable", coffer.EUNAUTHORIZED, func() error {
			_, err := s.UpdateTable(c, nb, "T", coffer.TableUpdate{Name: &name})
			return err
		})
		add("no caller/DeleteTable", coffer.EUNAUTHORIZED, func() error { return s.DeleteTable(c, nb, "T") })
		add("no caller/CreateColumn", coffer.EUNAUTHORIZED, func() error {
			_, err := s.CreateColumn(c, nb, "T", col("C", coffer.TypeText))
			return err
		})
		add("no caller/UpdateColumn", coffer.EUNAUTHORIZED, func() error {
			_, err := s.UpdateColumn(c, nb, "T", "Name", coffer.ColumnUpdate{Name: &name})
			return err
		})
		add("no caller/DeleteColumn", coffer.EUNAUTHORIZED, func() error { return s.DeleteColumn(c, nb, "T", "Name") })
		add("no caller/CreateRecord", coffer.EUNAUTHORIZED, func() error { _, err := s.CreateRecord(c, nb, "T", nil); return err })
		add("no caller/FindRecord", coffer.EUNAUTHORIZED, func() error { _, err := s.FindRecord(c, nb, "T", rec.ID); return err })
		add("no caller/FindRecords", coffer.EUNAUTHORIZED, func() error { _, err := s.FindRecords(c, nb, "T", coffer.ListQuery{}); return err })
		add("no caller/UpdateRecord", coffer.EUNAUTHORIZED, func() error {
			_, err := s.UpdateRecord(c, nb, "T", rec.ID, map[string]any{"Name": "y"}, 0)
			return err
		})
		add("no caller/DeleteRecord", coffer.EUNAUTHORIZED, func() error { return s.DeleteRecord(c, nb, "T", rec.ID, 0) })
		add("no caller/Batch", coffer.EUNAUTHORIZED, func() error {
			_, err := s.Batch(c, nb, "T", []coffer.BatchOp{{Op: coffer.OpDelete, ID: rec.ID}})
			return err
		})
		add("no caller/CreateView", coffer.EUNAUTHORIZED, func() error { _, err := s.CreateView(c, nb, "T", coffer.ViewInput{Name: "W"}); return err })
		add("no caller/FindViews", coffer.EUNAUTHORIZED, func() error { _, err := s.FindViews(c, nb, "T"); return err })
		add("no caller/FindView", coffer.EUNAUTHORIZED, func() error { _, err := s.FindView(c, nb, "T", "V"); return err })
		add("no caller/UpdateView", coffer.EUNAUTHORIZED, func() error {
			_, err := s.UpdateView(c, nb, "T", "V", coffer.ViewUpdate{Name: &name})
			return err
		})
		add("no caller/DeleteView", coffer.EUNAUTHORIZED, func() error { return s.DeleteView(c, nb, "T", "V") })
	}

	// Notebooks that do not exist, or belong to someone else, are not found.
	for _, bad := range append(garbageNotebooks, "stranger") {
		c, n := ctx, bad
		if bad == "stranger" {
			c, n = strangerCtx, nb
		}
		add("notebook "+short(bad)+"/FindNotebook", coffer.ENOTFOUND, func() error { _, err := s.FindNotebook(c, n); return err })
		add("notebook "+short(bad)+"/UpdateNotebook", coffer.ENOTFOUND, func() error {
			_, err := s.UpdateNotebook(c, n, coffer.NotebookUpdate{Name: &name})
			return err
		})
		add("notebook "+short(bad)+"/DeleteNotebook", coffer.ENOTFOUND, func() error { return s.DeleteNotebook(c, n) })
		add("notebook "+short(bad)+"/FindTables", coffer.ENOTFOUND, func() error { _, err := s.FindTables(c, n); return err })
		add("notebook "+short(bad)+"/CreateTable", coffer.ENOTFOUND, func() error {
			_, err := s.CreateTable(c, n, coffer.TableInput{Name: "U"})
			return err
		})
		add("notebook "+short(bad)+"/UpdateColumn", coffer.ENOTFOUND, func() error {
			_, err := s.UpdateColumn(c, n, "T", "Name", coffer.ColumnUpdate{Type: &typ})
			return err
		})
		add("notebook "+short(bad)+"/FindRecords", coffer.ENOTFOUND, func() error {
			_, err := s.FindRecords(c, n, "T", coffer.ListQuery{Filter: "garbage ((("})
			return err
		})
		add("notebook "+short(bad)+"/CreateRecord", coffer.ENOTFOUND, func() error { _, err := s.CreateRecord(c, n, "T", nil); return err })
		add("notebook "+short(bad)+"/Batch", coffer.ENOTFOUND, func() error {
			_, err := s.Batch(c, n, "T", []coffer.BatchOp{{Op: coffer.OpCreate}})
			return err
		})
		add("notebook "+short(bad)+"/FindViews", coffer.ENOTFOUND, func() error { _, err := s.FindViews(c, n, "T"); return err })
		add("notebook "+short(bad)+"/DeleteView", coffer.ENOTFOUND, func() error { return s.DeleteView(c, n, "T", view.ID) })
	}

	// Unknown tables, columns and views are not found.
	for _, bad := range garbageRefs {
		r := bad
		add("table "+short(r)+"/FindTable", coffer.ENOTFOUND, func() error { _, err := s.FindTable(ctx, nb, r); return err })
		add("table "+short(r)+"/UpdateTable", coffer.ENOTFOUND, func() error {
			_, err := s.UpdateTable(ctx, nb, r, coffer.TableUpdate{Name: &name})
			return err
		})
		add("table "+short(r)+"/DeleteTable", coffer.ENOTFOUND, func() error { return s.DeleteTable(ctx, nb, r) })
		add("table "+short(r)+"/CreateColumn", coffer.ENOTFOUND, func() error {
			_, err := s.CreateColumn(ctx, nb, r, col("C", coffer.TypeText))
			return err
		})
		add("table "+short(r)+"/FindRecords", coffer.ENOTFOUND, func() error { _, err := s.FindRecords(ctx, nb, r, coffer.ListQuery{}); return err })
		add("table "+short(r)+"/UpdateRecord", coffer.ENOTFOUND, func() error {
			_, err := s.UpdateRecord(ctx, nb, r, rec.ID, nil, 0)
			return err
		})
		add("table "+short(r)+"/DeleteRecord", coffer.ENOTFOUND, func() error { return s.DeleteRecord(ctx, nb, r, rec.ID, 0) })
		add("table "+short(r)+"/Batch", coffer.ENOTFOUND, func() error {
			_, err := s.Batch(ctx, nb, r, []coffer.BatchOp{{Op: coffer.OpDelete, ID: rec.ID}})
			return err
		})
		add("table "+short(r)+"/CreateView", coffer.ENOTFOUND, func() error { _, err := s.CreateView(ctx, nb, r, coffer.ViewInput{Name: "W"}); return err })
		add("table "+short(r)+"/FindView", coffer.ENOTFOUND, func() error { _, err := s.FindView(ctx, nb, r, view.ID); return err })
		add("column "+short(r)+"/UpdateColumn", coffer.ENOTFOUND, func() error {
			_, err := s.UpdateColumn(ctx, nb, "T", r, coffer.ColumnUpdate{Name: &name})
			return err
		})
		add("column "+short(r)+"/DeleteColumn", coffer.ENOTFOUND, func() error { return s.DeleteColumn(ctx, nb, "T", r) })
		add("view "+short(r)+"/FindView", coffer.ENOTFOUND, func() error { _, err := s.FindView(ctx, nb, "T", r); return err })
		add("view "+short(r)+"/UpdateView", coffer.ENOTFOUND, func() error {
			_, err := s.UpdateView(ctx, nb, "T", r, coffer.ViewUpdate{Name: &name})
			return err
		})
		add("view "+short(r)+"/DeleteView", coffer.ENOTFOUND, func() error { return s.DeleteView(ctx, nb, "T", r) })
		if r != "" {
			add("view "+short(r)+"/FindRecords", coffer.ENOTFOUND, func() error { _, err := s.FindRecords(ctx, nb, "T", coffer.ListQuery{View: r}); return err })
		}
		add("field "+short(r)+"/CreateRecord", coffer.EINVALID, func() error {
			_, err := s.CreateRecord(ctx, nb, "T", map[string]any{r: "x"})
			return err
		})
		add("field "+short(r)+"/FindRecords", coffer.EINVALID, func() error {
			_, err := s.FindRecords(ctx, nb, "T", coffer.ListQuery{Fields: []string{r}})
			return err
		})
		filterCode := coffer.EINVALID
		if len(r)+4 > filter.MaxLength {
			filterCode = coffer.ETOOCOMPLEX // over the size cap
		}
		add("filter "+short(r)+"/FindRecords", filterCode, func() error {
			_, err := s.FindRecords(ctx, nb, "T", coffer.ListQuery{Filter: r + " = 1"})
			return err
		})
		add("sort "+short(r)+"/FindRecords", coffer.EINVALID, func() error {
			_, err := s.FindRecords(ctx, nb, "T", coffer.ListQuery{Sort: r + "x"})
			return err
		})
		add("cursor "+short(r)+"/FindRecords", coffer.EINVALID, func() error {
			_, err := s.FindRecords(ctx, nb, "T", coffer.ListQuery{Cursor: r + "x"})
			return err
		})
	}

	// Values of the wrong shape in every write.
	for _, v := range []any{struct{}{}, []int{1}, map[string]any{"a": 1}, make(chan int), 1.5, complex(1, 2), []any{nil}} {
		add("value "+short(show(v))+"/CreateRecord", coffer.EINVALID, func() error {
			_, err := s.CreateRecord(ctx, nb, "T", map[string]any{"Name": v, "N": v})
			return err
		})
		add("value "+short(show(v))+"/UpdateRecord", coffer.EINVALID, func() error {
			_, err := s.UpdateRecord(ctx, nb, "T", rec.ID, map[string]any{"N": v}, 0)
			return err
		})
		add("value "+short(show(v))+"/Batch", coffer.EINVALID, func() error {
			_, err := s.Batch(ctx, nb, "T", []coffer.BatchOp{{Op: coffer.OpCreate, Fields: map[string]any{"N": v}}})
			return err
		})
	}
	add("a version from the future/UpdateRecord", coffer.EVERSION, func() error {
		_, err := s.UpdateRecord(ctx, nb, "T", rec.ID, map[string]any{"Name": "y"}, 1<<62)
		return err
	})
	add("options of a column/UpdateColumn", coffer.EINVALID, func() error {
		_, err := s.UpdateColumn(ctx, nb, "T", "N", coffer.ColumnUpdate{Options: &coffer.ColumnOptions{Choices: []string{"a"}}})
		return err
	})

	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.fn()
			if coffer.ErrorCode(err) == coffer.EINTERNAL {
				t.Errorf("EINTERNAL for a client mistake: %v", err)
				return
			}
			wantCode(t, err, c.want)
			if msg := coffer.ErrorMessage(err); err != nil && (msg == "" || strings.Contains(strings.ToLower(msg), "sql")) {
				t.Errorf("message %q is empty or mentions SQL", msg)
			}
		})
	}

	// Nothing above changed the data.
	got := MustFindRecord(t, ctx, s, nb, "T", rec.ID)
	if got.Version != 1 || got.Fields["Name"] != "x" {
		t.Errorf("record after client mistakes = %v (version %d)", got.Fields, got.Version)
	}
	after, err := s.FindTable(ctx, nb, tb.ID)
	if err != nil || mustJSON(t, after) != mustJSON(t, tb) {
		t.Errorf("table after client mistakes = %+v, %v", after, err)
	}
	if n, err := s.FindNotebook(ctx, nb); err != nil || n.Name != "Mistakes" {
		t.Errorf("notebook after client mistakes = %+v, %v", n, err)
	}
}

// short shortens s for a subtest name.
func short(s string) string {
	if s == "" {
		return `""`
	}
	if len(s) > 30 {
		return s[:30] + "…"
	}
	return s
}
