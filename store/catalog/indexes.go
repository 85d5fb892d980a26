package catalog

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/value"
)

// IndexDef is the stored form of an index declared over several columns
// of a table (_tables.indexes, a JSON list): its id and its keys, columns
// by id. Its SQL index is named by the id alone, never by user text.
type IndexDef struct {
	ID        string     `json:"id"`
	Keys      []IndexKey `json:"keys"`
	CreatedAt int64      `json:"created_at"` // microseconds
}

// IndexKey is one column of a declared index.
type IndexKey struct {
	Column string `json:"column"` // column id
	Desc   bool   `json:"desc,omitempty"`
}

// Uses reports whether the index has the column colID among its keys.
func (d IndexDef) Uses(colID string) bool {
	for _, k := range d.Keys {
		if k.Column == colID {
			return true
		}
	}
	return false
}

// SameKeys reports whether d and o index the same columns in the same
// directions.
func (d IndexDef) SameKeys(o IndexDef) bool {
	if len(d.Keys) != len(o.Keys) {
		return false
	}
	for i := range d.Keys {
		if d.Keys[i] != o.Keys[i] {
			return false
		}
	}
	return true
}

// parseIndexes reads the stored list of a table's declared indexes.
func parseIndexes(text string) ([]IndexDef, error) {
	var out []IndexDef
	if text == "" {
		return nil, nil
	}
	err := json.Unmarshal([]byte(text), &out)
	return out, err
}

// IndexesJSON is the stored form of a table's declared indexes.
func IndexesJSON(defs []IndexDef) string {
	if len(defs) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(defs)
	return string(b)
}

// UnqualifiedDeclaredIndex is the SQL name of the declared index id, as
// CREATE INDEX wants it: "x_" and the id without its prefix.
func UnqualifiedDeclaredIndex(id string) string {
	return `"x_` + strings.TrimPrefix(id, coffer.PrefixIndex) + `"`
}

// SQLDeclaredIndex is the qualified SQL name of the declared index id, as
// DROP INDEX wants it.
func SQLDeclaredIndex(prefix, id string) string { return prefix + UnqualifiedDeclaredIndex(id) }

// IndexEntryBudget bounds the largest entry a declared index could hold,
// in bytes, its id and overhead aside (about 80 bytes more). PostgreSQL
// refuses a B-tree entry over 2,704 bytes (a third of a page), at build
// time and then at every write of a row whose entry would be larger; an
// index that could reach that is refused when declared, on both backends
// alike (a notebook copies between them).
const IndexEntryBudget = 2560

// valueBytes is the most a stored value of c takes in an index, in bytes.
func valueBytes(c *coffer.Column) int {
	switch c.Type {
	case coffer.TypeNumber, coffer.TypeDateTime, coffer.TypeBoolean:
		return 8
	case coffer.TypeDate:
		return 10
	case coffer.TypeSingleSelect:
		return 4 * value.MaxChoiceLen
	case coffer.TypeEmail:
		return value.MaxEmail
	case coffer.TypePhone:
		return value.MaxPhone
	case coffer.TypeURL:
		return value.MaxURL
	}
	return value.MaxText
}

// withValue reports whether a declared index holds the value of the keyed
// column c after its sort key: only for short values (select, email,
// phone), so that equality filters (key = ? AND value = ?) are answered
// by the index alone, without making its entries long.
func withValue(c *coffer.Column) bool {
	switch c.Type {
	case coffer.TypeSingleSelect, coffer.TypeEmail, coffer.TypePhone:
		return true
	}
	return false
}

// IndexEntryBytes is the largest entry, in bytes, of a declared index over
// cols (id and overhead aside), to compare with IndexEntryBudget.
func IndexEntryBytes(cols []*coffer.Column) int {
	n := 0
	for _, c := range cols {
		switch {
		case !Keyed(c):
			n += valueBytes(c)
		case withValue(c):
			n += SortKeyMax + valueBytes(c)
		default:
			n += SortKeyMax
		}
	}
	return n
}

// DeclaredIndexDDL is the CREATE INDEX statement of the declared index d
// on the table tableSQL (qualified) whose columns are cols: its keys in
// order (a keyed text column by its sort key, as lists order by it, then
// its value when short, see withValue), NULLs placed as lists
// place them, then id in the direction of the last key, as lists break
// ties. concurrently builds it without blocking writes (PostgreSQL,
// outside a transaction). ok is false when a key names no indexable
// column of cols.
func DeclaredIndexDDL(dl store.Dialect, tableSQL string, cols []*coffer.Column, d IndexDef, concurrently bool) (ddl string, ok bool) {
	var keys []string
	desc := false
	for _, k := range d.Keys {
		i := slices.IndexFunc(cols, func(c *coffer.Column) bool { return c.ID == k.Column })
		if i < 0 || !Indexable(cols[i].Type) {
			return "", false
		}
		c := cols[i]
		dir := ""
		if k.Desc {
			dir = " DESC"
		}
		keys = append(keys, IndexedColumn(c)+dir+dl.NullsOrder(k.Desc))
		if Keyed(c) && withValue(c) {
			// Equality filters compare the key and the value: with both,
			// the index alone answers them (a count reads no row).
			keys = append(keys, SQLColumn(c.ID)+dir+dl.NullsOrder(k.Desc))
		}
		desc = k.Desc
	}
	id := "id"
	if desc {
		id = "id DESC"
	}
	how := "CREATE INDEX "
	if concurrently {
		how = "CREATE INDEX CONCURRENTLY "
	}
	return how + UnqualifiedDeclaredIndex(d.ID) + " ON " + tableSQL + " (" + strings.Join(keys, ", ") + ", " + id + ")", true
}
