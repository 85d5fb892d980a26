package catalog

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/filter"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/value"
)

// Text sorts in a human order, identically on every backend: each text-like
// column (text, long_text, email, url, phone, single_select) whose
// collation is not "binary" has a sort-key column "k_<id>" next to its
// value column "c_<id>", holding the value's Unicode collation key
// (golang.org/x/text/collate, root locale), computed in Go and cut to
// SortKeyMax bytes. Both databases compare these bytes bytewise, so the
// order is the same on SQLite and PostgreSQL by construction. Lists order
// by the key, then by id; the column's index is on (key, id); equality
// filters compile to key = Key(v) AND value = v so that index serves them
// too. A column with the option collation "binary" keeps sorting bytewise
// on its value, with its index on (value, id).
//
// The catalogue records, per column, the format of the keys its key
// column holds (_columns.sort_key: "" for none). When a notebook's schema
// is loaded and a keyed column's keys are missing (a notebook made before
// keys existed) or of another format (a newer collation table), the keys
// are added or recomputed in one write transaction before the schema is
// used (upgradeSortKeys).

// SortKeyMax bounds a stored sort key, in bytes: values whose keys agree
// on their first SortKeyMax bytes sort by id.
const SortKeyMax = 512

// sortKeyInput bounds the text a key is computed from, in bytes (cut at a
// character boundary): keys take at least two bytes per character, so a
// longer text would only cost time (a long_text may hold megabytes).
const sortKeyInput = 4 * SortKeyMax

// SortKeyFormat names the keys this code computes: the collation tables,
// the normalization tables and the cut. Keys stored under another format
// are recomputed when their notebook is loaded, so that equality filters,
// which compare keys, never meet keys computed by other tables.
var SortKeyFormat = "uca-und cldr" + collate.CLDRVersion + " unicode" + collate.UnicodeVersion +
	" norm" + norm.Version + " trim in" + fmt.Sprint(sortKeyInput) + " max" + fmt.Sprint(SortKeyMax)

// keyer is a collator with its buffer: a Collator is not safe for
// concurrent use, so they are pooled.
type keyer struct {
	c   *collate.Collator
	buf collate.Buffer
}

var keyers = sync.Pool{New: func() any { return &keyer{c: collate.New(language.Und)} }}

// SortKey returns the sort key of the text s: its collation key, cut to
// SortKeyMax bytes. Keys compared bytewise order texts as the Unicode
// collation does (case and accents second to the letters).
func SortKey(s string) []byte {
	if len(s) > sortKeyInput {
		n := sortKeyInput
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	k := keyers.Get().(*keyer)
	b := trimKey(k.c.KeyFromString(&k.buf, s))
	if len(b) > SortKeyMax {
		b = b[:SortKeyMax]
	}
	out := append(make([]byte, 0, len(b)), b...)
	k.buf.Reset()
	keyers.Put(k)
	return out
}

// The levels of a collation key from x/text: primary weights of 2 bytes
// (3 when the first byte has its high bit set), "00 00", secondary weights
// of 2 bytes, "00 00", tertiary weights of 1 byte. The common secondary and
// tertiary weights (unaccented, lower case) are the smallest of their
// level, so a run of them at the end of a level can be dropped without
// changing how keys compare (the end of a level sorts below any weight,
// as the common weight does against any other): keys of plain text get
// about 60% shorter, and with them the rows and indexes. Keys that only
// such a run told apart become equal there and are told apart by the next
// level, or by id. TestTrimKeyOrder checks the premise over every
// character and the order over random texts.
const (
	commonSecondary = 0x0020
	commonTertiary  = 0x02
)

// trimKey drops the trailing common weights of the secondary and tertiary
// levels of key, in place. A key not of the expected shape is returned
// as it is.
func trimKey(key []byte) []byte {
	i := 0
	for { // primary weights
		if i+1 >= len(key) {
			return key
		}
		if key[i]&0x80 != 0 {
			i += 3
			continue
		}
		if key[i] == 0 && key[i+1] == 0 {
			break
		}
		i += 2
	}
	secStart := i + 2
	i = secStart
	end := secStart // after the last uncommon secondary weight
	for {
		if i+1 >= len(key) {
			return key
		}
		w := int(key[i])<<8 | int(key[i+1])
		if w == 0 {
			break
		}
		i += 2
		if w != commonSecondary {
			end = i
		}
	}
	ter := key[i+2:]
	n := len(ter)
	for n > 0 && ter[n-1] == commonTertiary {
		n--
	}
	out := append(key[:end], 0, 0)
	return append(out, ter[:n]...)
}

// Keyed reports whether column c has a sort-key column: text-like columns
// sorted in Unicode order (the default).
func Keyed(c *coffer.Column) bool {
	return value.Collatable(c.Type) && c.Options.Collation != coffer.CollationBinary
}

// KeyFormat is what _columns.sort_key holds for a column kept up to date
// by this code.
func KeyFormat(c *coffer.Column) string {
	if Keyed(c) {
		return SortKeyFormat
	}
	return ""
}

// KeyOf returns the sort key of a storage value (nil for NULL).
func KeyOf(v any) any {
	switch s := v.(type) {
	case string:
		return SortKey(s)
	case []byte:
		return SortKey(string(s))
	}
	return nil
}

// SQLKey is the quoted name of the sort-key column of column colID.
func SQLKey(colID string) string {
	return `"k_` + strings.TrimPrefix(colID, coffer.PrefixColumn) + `"`
}

// KeyColumnDDL is the definition of c's key column in CREATE TABLE or ADD
// COLUMN ("" for a column without one).
func KeyColumnDDL(d store.Dialect, c *coffer.Column) string {
	if !Keyed(c) {
		return ""
	}
	return SQLKey(c.ID) + " " + d.KeyType()
}

// IndexedColumn is the column the index of c is on: its key, or its value.
func IndexedColumn(c *coffer.Column) string {
	if Keyed(c) {
		return SQLKey(c.ID)
	}
	return SQLColumn(c.ID)
}

// setKey gives the colMeta of c its key column, as the catalogue's
// sort_key says it is stored: writes maintain a key column that exists,
// and sorts and equality filters use it when its keys are current.
func (cm *ColMeta) setKey(format string) {
	if format == "" || !Keyed(cm.Column) || cm.Phys == "" {
		return
	}
	cm.Key = SQLKey(cm.Column.ID)
	if format == SortKeyFormat {
		cm.field.Sort = "t." + cm.Key
		cm.field.Key = KeyOf
	}
}

// SortSQL is the SQL a list orders by for f.
func SortSQL(f *filter.Field) string {
	if f.Sort != "" {
		return f.Sort
	}
	return f.SQL
}

// CursorSig marks the signatures of sorts by key, so that a cursor made
// by a sort on values (before keys, or for a binary column) is refused as
// invalid rather than misread.
func CursorSig(f *filter.Field) string {
	if f.Sort != "" {
		return "k2:"
	}
	return ""
}

// CursorOut turns a scanned sort value of f into its cursor form: keys
// as base64 text.
func CursorOut(f *filter.Field, v any) any {
	if f.Sort != "" {
		if b, ok := v.([]byte); ok {
			return base64.RawURLEncoding.EncodeToString(b)
		}
		return v // NULL
	}
	return cursorJSON(v)
}

// CursorIn converts a JSON-decoded cursor value of f back to what its
// sort expression yields.
func CursorIn(f *filter.Field, v any) (any, bool) {
	if f.Sort == "" {
		return cursorValue(f.Type, v)
	}
	if v == nil {
		return nil, true
	}
	s, ok := v.(string)
	if !ok || len(s) > 2*SortKeyMax {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > SortKeyMax {
		return nil, false
	}
	return b, true
}

// maskSort masks the sort expression of a field whose cells the caller
// reads only where m holds, as its value is masked: a hidden cell sorts
// as NULL, like it filters.
func maskSort(f *filter.Field, m string) {
	switch {
	case f.Sort == "":
	case m == "1=0":
		f.Sort = "NULL"
	default:
		f.Sort = "CASE WHEN " + m + " THEN " + f.Sort + " END"
	}
}

// keyBatch is how many rows a backfill reads at a time.
const keyBatch = 500

// fillKeys computes the key of every non-NULL value of column colID of
// table tbl into its key column, in batches of keyBatch rows.
func fillKeys(ctx context.Context, q Querier, d store.Dialect, tbl, colID string) error {
	col, key := SQLColumn(colID), SQLKey(colID)
	sel := d.Rebind("SELECT id, " + col + " FROM " + tbl + " WHERE " + col + " IS NOT NULL AND id > ? ORDER BY id LIMIT " + fmt.Sprint(keyBatch))
	upd := d.Rebind("UPDATE " + tbl + " SET " + key + " = ? WHERE id = ?")
	type row struct{ id, v string }
	last := ""
	for {
		rows, err := q.QueryContext(ctx, sel, last)
		if err != nil {
			return err
		}
		var batch []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.v); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range batch {
			if _, err := q.ExecContext(ctx, upd, SortKey(r.v), r.id); err != nil {
				return err
			}
		}
		if len(batch) < keyBatch {
			return nil
		}
		last = batch[len(batch)-1].id
	}
}

// upgradeKey brings the key column of c (of table tableID) to
// SortKeyFormat: it adds the column and moves the index onto it when
// there is none yet (had == ""), recomputes every key and records the
// format in the catalogue.
func upgradeKey(ctx context.Context, q Querier, d store.Dialect, prefix, tableID string, c *coffer.Column, had string) error {
	tbl := SQLTable(prefix, tableID)
	if had == "" {
		if _, err := q.ExecContext(ctx, "ALTER TABLE "+tbl+" ADD COLUMN "+KeyColumnDDL(d, c)); err != nil {
			return err
		}
	}
	if err := fillKeys(ctx, q, d, tbl, c.ID); err != nil {
		return err
	}
	if had == "" && Indexable(c.Type) {
		for _, st := range []string{
			"DROP INDEX IF EXISTS " + SQLIndex(prefix, c.ID),
			"CREATE INDEX " + UnqualifiedIndex(c.ID) + " ON " + tbl + " (" + IndexedColumn(c) + d.NullsOrder(false) + ", id)",
		} {
			if _, err := q.ExecContext(ctx, st); err != nil {
				return err
			}
		}
	}
	_, err := q.ExecContext(ctx, d.Rebind("UPDATE "+prefix+"_columns SET sort_key = ? WHERE id = ?"), SortKeyFormat, c.ID)
	return err
}

// FillSortKeys computes the keys of every keyed column of the tables of a
// notebook whose storage was just created by TableDDL and filled with the
// values (a copy between backends: keys are derived data, computed anew
// rather than copied), and records their format in the catalogue, in the
// caller's transaction.
func FillSortKeys(ctx context.Context, tx *sql.Tx, d store.Dialect, prefix string, tables []*coffer.Table) error {
	for _, t := range tables {
		for _, c := range t.Columns {
			if !Keyed(c) {
				continue
			}
			if err := fillKeys(ctx, tx, d, SQLTable(prefix, t.ID), c.ID); err != nil {
				return fmt.Errorf("sort keys of %s: %w", c.ID, err)
			}
			if _, err := tx.ExecContext(ctx, d.Rebind("UPDATE "+prefix+"_columns SET sort_key = ? WHERE id = ?"), SortKeyFormat, c.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// staleKeys reports whether a keyed column of sc lacks current keys.
func (sc *Schema) staleKeys() bool {
	for _, tm := range sc.Tables {
		for _, cm := range tm.Cols {
			if Keyed(cm.Column) && cm.Column.Type != coffer.TypeLink && cm.field.Sort == "" {
				return true
			}
		}
	}
	return false
}

// upgradeSortKeys adds or recomputes, in one write transaction through the
// notebook's writer, the keys of every keyed column whose keys are missing
// or of another format, and bumps the schema version so every cache
// reloads. It runs for whoever first loads the schema, whatever their
// rights: it changes no data a user sees.
func (s *Catalog) upgradeSortKeys(ctx context.Context, db *store.DB) error {
	ctx = coffer.WithCaller(context.WithoutCancel(ctx), nil)
	return s.Write(ctx, db, "upgradeSortKeys", func(tx *store.WriteTx) error {
		if err := s.LockSchema(ctx, db, tx); err != nil {
			return err
		}
		type col struct {
			c       coffer.Column
			tableID string
			had     string
		}
		var todo []col
		rows, err := tx.QueryContext(ctx, "SELECT id, table_id, type, options, sort_key FROM "+db.Prefix+"_columns ORDER BY table_id, position, id")
		if err != nil {
			return err
		}
		for rows.Next() {
			var x col
			var opts string
			if err := rows.Scan(&x.c.ID, &x.tableID, &x.c.Type, &opts, &x.had); err != nil {
				rows.Close()
				return err
			}
			if err := json.Unmarshal([]byte(opts), &x.c.Options); err != nil {
				rows.Close()
				return fmt.Errorf("column %s options: %w", x.c.ID, err)
			}
			if Keyed(&x.c) && x.had != SortKeyFormat {
				todo = append(todo, x)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(todo) == 0 {
			return nil // another node or request did it meanwhile
		}
		for _, x := range todo {
			if err := upgradeKey(ctx, tx, s.Dialect, db.Prefix, x.tableID, &x.c, x.had); err != nil {
				return fmt.Errorf("sort keys of %s: %w", x.c.ID, err)
			}
		}
		_, err = tx.ExecContext(ctx, "UPDATE "+db.Prefix+"_schema_version SET version = version + 1")
		return err
	})
}

// Backend returns the storage backend of s, for tools and tests that
