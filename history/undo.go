package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/cofferhq/coffer/store"
)

// StoredAction is one stored action with its cell changes, as undo, redo and
// the trash read it.
type StoredAction struct {
	Seq      int64
	At       int64 // microseconds
	Actor    string
	Client   string
	Kind     string
	Table    string
	Summary  string
	Inverse  json.RawMessage // nil when the action kept none
	Undoes   int64
	Redoes   int64
	UndoneBy int64 // 0: not undone; a claimed undo in flight also reads 0
	Changes  []Change
}

// Inverted is the Inverse of an undo, redo or restore action: the kind of change
// it made (an undo of a column's creation deletes a column: "column.delete")
// and what inverting it in turn needs, in the form that kind's own
// actions keep (a TableInverse, ColumnInverse or ViewInverse; none for
// record changes). An undo is thereby an action like any other, and is
// undone (redone) the same way.
type Inverted struct {
	Kind    string          `json:"kind"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Effective returns the kind of change an action made and the inverse
// data of that kind: its own for ordinary actions, the one its Inverted
// names for undo and redo actions.
func (a *StoredAction) Effective() (string, json.RawMessage, error) {
	if a.Kind != KindUndo && a.Kind != KindRedo && a.Kind != KindRestore {
		return a.Kind, a.Inverse, nil
	}
	var inv Inverted
	if err := json.Unmarshal(a.Inverse, &inv); err != nil {
		return "", nil, err
	}
	return inv.Kind, inv.Payload, nil
}

// Opposite is the kind of change that inverts a change of kind k: a
// creation is inverted by a deletion and back; changes of records,
// updates, reverts and restores of records by a change of records.
func Opposite(k string) string {
	switch k {
	case KindRecordCreate:
		return KindRecordDelete
	case KindRecordDelete:
		return KindRecordCreate
	case KindTableCreate:
		return KindTableDelete
	case KindTableDelete:
		return KindTableCreate
	case KindColumnCreate:
		return KindColumnDelete
	case KindColumnDelete:
		return KindColumnCreate
	case KindViewCreate:
		return KindViewDelete
	case KindViewDelete:
		return KindViewCreate
	case KindIndexCreate:
		return KindIndexDelete
	case KindIndexDelete:
		return KindIndexCreate
	case KindTableUpdate, KindColumnUpdate, KindViewUpdate, KindRecordUpdate:
		return k
	}
	return KindBatch
}

// querier is what a transaction and a database handle have in common.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// actionCols are the columns ReadAction and the stack queries read.
const actionCols = "seq, at, actor, client, kind, table_id, summary, inverse, undoes, redoes, undone_by"

// LatestUndoable returns the sequence number of the newest action of
// actor's client session at or after since (microseconds) that is still
// undoable: not an undo itself and not undone; 0 for none.
func LatestUndoable(ctx context.Context, core *store.Core, q querier, prefix, actor, client string, since int64) (int64, error) {
	return latest(ctx, q, core.Rebind("SELECT seq FROM "+prefix+"_actions WHERE actor = ? AND client = ? AND kind <> ? AND undone_by IS NULL AND at >= ? ORDER BY seq DESC LIMIT 1"),
		actor, client, KindUndo, since)
}

// LatestRedoable returns the sequence number of the newest undo of
// actor's client session at or after since that is not redone yet and
// that no ordinary action of the session followed (a new action clears
// the redo stack, as in editors); 0 for none.
func LatestRedoable(ctx context.Context, core *store.Core, q querier, prefix, actor, client string, since int64) (int64, error) {
	return latest(ctx, q, core.Rebind("SELECT seq FROM "+prefix+"_actions WHERE actor = ? AND client = ? AND kind = ? AND undone_by IS NULL AND at >= ? "+
		"AND seq > COALESCE((SELECT MAX(seq) FROM "+prefix+"_actions WHERE actor = ? AND client = ? AND kind <> ? AND kind <> ?), 0) ORDER BY seq DESC LIMIT 1"),
		actor, client, KindUndo, since, actor, client, KindUndo, KindRedo)
}

func latest(ctx context.Context, q querier, query string, args ...any) (int64, error) {
	var seq int64
	err := q.QueryRowContext(ctx, query, args...).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return seq, err
}

// ReadAction reads an action with its changes, in their order; nil when
// there is none with that number.
func ReadAction(ctx context.Context, core *store.Core, q querier, prefix string, seq int64) (*StoredAction, error) {
	a := &StoredAction{}
	var inverse string
	var undoes, redoes, undone sql.NullInt64
	err := q.QueryRowContext(ctx, core.Rebind("SELECT "+actionCols+" FROM "+prefix+"_actions WHERE seq = ?"), seq).
		Scan(&a.Seq, &a.At, &a.Actor, &a.Client, &a.Kind, &a.Table, &a.Summary, &inverse, &undoes, &redoes, &undone)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if inverse != "" {
		a.Inverse = json.RawMessage(inverse)
	}
	a.Undoes, a.Redoes, a.UndoneBy = undoes.Int64, redoes.Int64, undone.Int64
	rows, err := q.QueryContext(ctx, core.Rebind("SELECT table_id, record_id, column_id, old, new FROM "+prefix+"_changes WHERE seq = ? ORDER BY n"), seq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var c Change
		var old, new sql.NullString
		if err := rows.Scan(&c.Table, &c.Record, &c.Column, &old, &new); err != nil {
			return nil, err
		}
		c.Old, c.New = str(old), str(new)
		a.Changes = append(a.Changes, c)
	}
	return a, rows.Err()
}

func str(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}

// Claim marks action seq as being undone (or, for an undo, redone), in
// the transaction that does it; false when it already is, by a
// concurrent request of the same session. MarkUndone then names the
// action that did it.
func Claim(ctx context.Context, core *store.Core, tx querier, prefix string, seq int64) (bool, error) {
	res, err := tx.ExecContext(ctx, core.Rebind("UPDATE "+prefix+"_actions SET undone_by = 0 WHERE seq = ? AND undone_by IS NULL"), seq)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// MarkUndone records that action seq was undone (redone, restored) by
// action by.
func MarkUndone(ctx context.Context, core *store.Core, tx querier, prefix string, seq, by int64) error {
	_, err := tx.ExecContext(ctx, core.Rebind("UPDATE "+prefix+"_actions SET undone_by = ? WHERE seq = ?"), by, seq)
	return err
}

// Cell is one cell's net change over an action: its value before the
// action and after it (JSON texts of the API form, nil for empty).
type Cell struct {
	Column        string
	Before, After *string
}

// NetRecord is what an action did to one record, whatever the number of
// its changes: whether the record existed before and after (the metadata
// of its existence cell), and each cell's value before and after.
type NetRecord struct {
	Table, Record string
	// Existence before and after: nil when the record did not exist.
	// Touched reports whether the action changed the existence at all
	// (else the record existed throughout, as far as the action knows).
	Before, After *string
	Touched       bool
	Cells         []Cell
}

// Created reports whether the action brought the record into existence.
func (n *NetRecord) Created() bool { return n.Touched && n.Before == nil && n.After != nil }

// Deleted reports whether the action removed the record.
func (n *NetRecord) Deleted() bool { return n.Touched && n.Before != nil && n.After == nil }

// Net folds changes into one net change per record, in the order records
// first appear: the first change of a cell gives its value before, the
// last its value after.
func Net(changes []Change) []*NetRecord {
	var out []*NetRecord
	byKey := map[[2]string]*NetRecord{}
	cells := map[*NetRecord]map[string]int{}
	for _, c := range changes {
		k := [2]string{c.Table, c.Record}
		n := byKey[k]
		if n == nil {
			n = &NetRecord{Table: c.Table, Record: c.Record}
			byKey[k] = n
			cells[n] = map[string]int{}
			out = append(out, n)
		}
		if c.Column == "" {
			if !n.Touched {
				n.Before, n.Touched = c.Old, true
			}
			n.After = c.New
			continue
		}
		if i, ok := cells[n][c.Column]; ok {
			n.Cells[i].After = c.New
			continue
		}
		cells[n][c.Column] = len(n.Cells)
		n.Cells = append(n.Cells, Cell{Column: c.Column, Before: c.Old, After: c.New})
	}
	return out
}

// Same reports whether two JSON texts of values (nil: empty) are equal.
func Same(a, b *string) bool { return same(a, b) }

// Deletion is a record's deletion that nothing undid since: the record is
// in the trash.
type Deletion struct {
	Seq    int64
	At     int64 // microseconds
	Actor  string
	Record string
	Meta   RecordMeta
}

// Deletions lists the records of table whose last existence change is a
// deletion (they are in the trash), newest first, at most limit, deleted
// by actions numbered below before (0: any).
func Deletions(ctx context.Context, core *store.Core, q querier, prefix, table string, before int64, limit int) ([]Deletion, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := q.QueryContext(ctx, core.Rebind("SELECT c.seq, a.at, a.actor, c.record_id, c.old FROM "+prefix+"_changes c JOIN "+prefix+"_actions a ON a.seq = c.seq "+
		"WHERE c.table_id = ? AND c.column_id = '' AND c.new IS NULL AND c.old IS NOT NULL AND c.seq < ? AND NOT EXISTS (SELECT 1 FROM "+prefix+"_changes l "+
		"WHERE l.table_id = c.table_id AND l.record_id = c.record_id AND l.column_id = '' AND l.seq > c.seq) ORDER BY c.seq DESC, c.record_id LIMIT ?"), table, before, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Deletion
	for rows.Next() {
		var d Deletion
		var meta string
		if err := rows.Scan(&d.Seq, &d.At, &d.Actor, &d.Record, &meta); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(meta), &d.Meta); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// LastDeletion returns the deletion of record of table if it is in the
// trash; nil otherwise.
func LastDeletion(ctx context.Context, core *store.Core, q querier, prefix, table, record string) (*Deletion, error) {
	d := &Deletion{Record: record}
	var old, now sql.NullString
	err := q.QueryRowContext(ctx, core.Rebind("SELECT c.seq, a.at, a.actor, c.old, c.new FROM "+prefix+"_changes c JOIN "+prefix+"_actions a ON a.seq = c.seq "+
		"WHERE c.table_id = ? AND c.record_id = ? AND c.column_id = '' ORDER BY c.seq DESC, c.n DESC LIMIT 1"), table, record).Scan(&d.Seq, &d.At, &d.Actor, &old, &now)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil || now.Valid || !old.Valid {
		return nil, err // its last existence change is not a deletion
	}
	return d, json.Unmarshal([]byte(old.String), &d.Meta)
}

// LastValues returns the values a record held when action seq deleted
// it, by column id (JSON texts; empty cells left out).
func LastValues(ctx context.Context, core *store.Core, q querier, prefix string, seq int64, table, record string) (map[string]*string, error) {
	rows, err := q.QueryContext(ctx, core.Rebind("SELECT column_id, old FROM "+prefix+"_changes WHERE seq = ? AND table_id = ? AND record_id = ? AND column_id <> '' ORDER BY n"), seq, table, record)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*string{}
	for rows.Next() {
		var col string
		var old sql.NullString
		if err := rows.Scan(&col, &old); err != nil {
			return nil, err
		}
		out[col] = str(old) // the last change of a cell is the one the deletion made
	}
	for col, v := range out {
		if v == nil {
			delete(out, col)
		}
	}
	return out, rows.Err()
}

// SchemaDeletion is the deletion of a column or a table, with what it
// kept to bring it back.
type SchemaDeletion struct {
	Seq     int64
	At      int64
	Actor   string
	Kind    string // KindColumnDelete or KindTableDelete
	Table   string // the table (of the column)
	Column  *ColumnInverse
	Deleted *TableInverse
	Records int // of a table
}

// maxSchemaDeletions bounds the deletions SchemaDeletions reads.
const maxSchemaDeletions = 1000

// SchemaDeletions lists the deletions of columns and tables that history
// keeps, newest first (at most 1000).
func SchemaDeletions(ctx context.Context, core *store.Core, q querier, prefix string) ([]*SchemaDeletion, error) {
	rows, err := q.QueryContext(ctx, core.Rebind("SELECT seq, at, actor, kind, table_id, inverse, (SELECT count(*) FROM "+prefix+"_changes c WHERE c.seq = a.seq AND c.column_id = '') FROM "+
		prefix+"_actions a WHERE kind IN (?, ?) ORDER BY seq DESC LIMIT ?"), KindColumnDelete, KindTableDelete, maxSchemaDeletions)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*SchemaDeletion
	for rows.Next() {
		d := &SchemaDeletion{}
		var inverse string
		if err := rows.Scan(&d.Seq, &d.At, &d.Actor, &d.Kind, &d.Table, &inverse, &d.Records); err != nil {
			return nil, err
		}
		var err error
		if d.Kind == KindColumnDelete {
			d.Column = &ColumnInverse{}
			err = json.Unmarshal([]byte(inverse), d.Column)
		} else {
			d.Deleted = &TableInverse{}
			err = json.Unmarshal([]byte(inverse), d.Deleted)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
