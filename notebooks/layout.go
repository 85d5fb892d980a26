package notebooks

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/catalog"
)

// maxLayoutErrors bounds the mistakes a refused layout names.
const maxLayoutErrors = 20

// shortID is a client's key as a field name: at most 40 bytes of it, so a
// problem never echoes a long one back whole.
func shortID(id string) string {
	if len(id) <= 40 {
		return id
	}
	return strings.ToValidUTF8(id[:40], "") + "…"
}

// checkLayout validates a new layout of tm against the columns the caller
// sees (tp from schemaPlan; nil sees all) and returns the layout to store:
// the new one, plus the entries of the columns hidden from the caller as
// they were (their place in the order after the visible ones), so that a
// caller cannot change, nor learn, what concerns columns they cannot see.
func checkLayout(tp *catalog.TablePlan, tm *catalog.TableMeta, in coffer.TableLayout) (coffer.TableLayout, error) {
	visible := func(id string) bool {
		if tp == nil {
			cm := tm.Column(id)
			return cm != nil && cm.Column.ID == id
		}
		cm := tp.Visible(id)
		return cm != nil && cm.Column.ID == id
	}
	var errs []coffer.FieldError
	fail := func(field, msg string) {
		if len(errs) < maxLayoutErrors {
			errs = append(errs, coffer.FieldError{Field: field, Message: msg})
		}
	}
	known := func(field, id string) bool {
		if !visible(id) {
			fail(field, "must be the id of a column of the table")
			return false
		}
		return true
	}
	var out coffer.TableLayout
	seen := map[string]bool{}
	for i, id := range in.Order {
		f := fmt.Sprintf("layout.order[%d]", i)
		if !known(f, id) {
			continue
		}
		if seen[id] {
			fail(f, "names a column already in the order")
			continue
		}
		seen[id] = true
		out.Order = append(out.Order, id)
	}
	for id, w := range in.Widths {
		f := "layout.widths." + shortID(id)
		if !known(f, id) {
			continue
		}
		if w < coffer.MinColumnWidth || w > coffer.MaxColumnWidth {
			fail(f, fmt.Sprintf("must be between %d and %d pixels", coffer.MinColumnWidth, coffer.MaxColumnWidth))
			continue
		}
		if out.Widths == nil {
			out.Widths = map[string]int{}
		}
		out.Widths[id] = w
	}
	hidden := map[string]bool{}
	for i, id := range in.Hidden {
		if known(fmt.Sprintf("layout.hidden[%d]", i), id) && !hidden[id] {
			hidden[id] = true
			out.Hidden = append(out.Hidden, id)
		}
	}
	if len(errs) > 0 {
		return coffer.TableLayout{}, coffer.Invalid("the table layout is not valid", errs...)
	}
	if tp == nil {
		return out, nil
	}
	// Keep what concerns the columns the caller cannot see.
	kept := tm.Table.Layout.Only(func(id string) bool { return !visible(id) })
	out.Order = append(out.Order, kept.Order...)
	for id, w := range kept.Widths {
		if out.Widths == nil {
			out.Widths = map[string]int{}
		}
		out.Widths[id] = w
	}
	out.Hidden = append(out.Hidden, kept.Hidden...)
	return out, nil
}

// layoutAs is a table's layout as a caller who sees only cols sees it.
func layoutAs(l coffer.TableLayout, cols []*catalog.ColMeta) coffer.TableLayout {
	ids := make(map[string]bool, len(cols))
	for _, cm := range cols {
		ids[cm.Column.ID] = true
	}
	return l.Only(func(id string) bool { return ids[id] })
}

// sameLayout reports whether two layouts are the same for the columns of tm.
func sameLayout(tm *catalog.TableMeta, a, b coffer.TableLayout) bool {
	a, b = layoutAs(a, tm.Cols), layoutAs(b, tm.Cols)
	return reflect.DeepEqual(a, b)
}
