package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/cofferhq/coffer/store"
)

// Action is one stored action with its cell changes, as undo, redo and
// the trash read it.
type Action struct {
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

// Inverted is the Inverse of an undo or redo action: the kind of change
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
func (a *Action) Effective() (string, json.RawMessage, error) {
	if a.Kind != KindUndo && a.Kind != KindRedo {
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
	case KindTableUpdate, KindColumnUpdate, KindViewUpdate, KindRecordUpdate:
		return k
	}
	return KindBatch
}

// Querier is what a transaction and a database handle have in common.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// actionCols are the columns ReadAction and the stack queries read.
const actionCols = "seq, at, actor, client, kind, table_id, summary, inverse, undoes, redoes, undone_by"

// LatestUndoable returns the sequence number of the newest action of
// actor's client session at or after since (microseconds) that is still
// undoable: not an undo itself and not undone; 0 for none.
func LatestUndoable(ctx context.Context, core *store.Core, q Querier, prefix, actor, client string, since int64) (int64, error) {
	return latest(ctx, q, core.Rebind("SELECT seq FROM "+prefix+"_actions WHERE actor = ? AND client = ? AND kind <> ? AND undone_by IS NULL AND at >= ? ORDER BY seq DESC LIMIT 1"),
		actor, client, KindUndo, since)
}

// LatestRedoable returns the sequence number of the newest undo of
// actor's client session at or after since that is not redone yet and
// that no ordinary action of the session followed (a new action clears
// the redo stack, as in editors); 0 for none.
func LatestRedoable(ctx context.Context, core *store.Core, q Querier, prefix, actor, client string, since int64) (int64, error) {
	return latest(ctx, q, core.Rebind("SELECT seq FROM "+prefix+"_actions WHERE actor = ? AND client = ? AND kind = ? AND undone_by IS NULL AND at >= ? "+
		"AND seq > COALESCE((SELECT MAX(seq) FROM "+prefix+"_actions WHERE actor = ? AND client = ? AND kind <> ? AND kind <> ?), 0) ORDER BY seq DESC LIMIT 1"),
		actor, client, KindUndo, since, actor, client, KindUndo, KindRedo)
}

func latest(ctx context.Context, q Querier, query string, args ...any) (int64, error) {
	var seq int64
	err := q.QueryRowContext(ctx, query, args...).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return seq, err
}

// ReadAction reads an action with its changes, in their order; nil when
// there is none with that number.
func ReadAction(ctx context.Context, core *store.Core, q Querier, prefix string, seq int64) (*Action, error) {
	a := &Action{}
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
func Claim(ctx context.Context, core *store.Core, tx Querier, prefix string, seq int64) (bool, error) {
	res, err := tx.ExecContext(ctx, core.Rebind("UPDATE "+prefix+"_actions SET undone_by = 0 WHERE seq = ? AND undone_by IS NULL"), seq)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// MarkUndone records that action seq was undone (redone, restored) by
// action by.
func MarkUndone(ctx context.Context, core *store.Core, tx Querier, prefix string, seq, by int64) error {
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
