// Package history records what changes in a notebook and reads it back.
//
// Every write to a notebook is one action: who (user, API key, client
// session), when, from where (IP, user agent), a kind and a short summary,
// and the cell changes it made (table, record, column, old and new value in
// the values' JSON form). An action is written in the transaction of the
// change it records, at its end, so that actions on one record are
// numbered in the order they committed.
//
// A record's existence is itself a cell: the change with an empty column
// id, whose old value is the record's metadata before (NULL when it did
// not exist) and whose new value its metadata after (NULL when deleted).
// Schema actions keep in Inverse what their inverse needs (a dropped
// column's definition, a dropped table's), and record the values they
// destroy as cell changes.
//
// Actions serve the undo stack of each person's client session (a day),
// the per-cell history (while the notebook's history switch is on, for its
// retention) and time travel. This package holds the recording and the
// storage forms; the services that write (notebooks) call it.
package history

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
)

// Action kinds.
const (
	KindRecordCreate = "record.create"
	KindRecordUpdate = "record.update"
	KindRecordDelete = "record.delete"
	KindBatch        = "record.batch"
	KindTableCreate  = "table.create"
	KindTableUpdate  = "table.update"
	KindTableDelete  = "table.delete"
	KindColumnCreate = "column.create"
	KindColumnUpdate = "column.update"
	KindColumnDelete = "column.delete"
	KindViewCreate   = "view.create"
	KindViewUpdate   = "view.update"
	KindViewDelete   = "view.delete"
	KindIndexCreate  = "index.create"
	KindIndexDelete  = "index.delete"
	KindFileUpload   = "file.upload" // a file added to a file cell: a change of records
	KindFileDelete   = "file.delete" // a file removed from a file cell: a change of records
	KindUndo         = "undo"
	KindRedo         = "redo"
	KindRevert       = "revert"
	KindRestore      = "restore"
)

// UndoWindow is how long an action stays on its author's undo stack, and
// how long actions are kept when the notebook's history is off.
const UndoWindow = 24 * time.Hour

// RecordMeta is the stored form of a record's existence: the value of its
// change with an empty column id.
type RecordMeta struct {
	CreatedAt int64  `json:"created_at"` // microseconds
	CreatedBy string `json:"created_by"`
}

// Change is one cell's change. Old and New are JSON texts of the values'
// API form; nil is an empty cell (or, for the record cell, no record).
type Change struct {
	Table  string  `json:"table_id"`
	Record string  `json:"record_id"`
	Column string  `json:"column_id"` // "" for the record itself
	Old    *string `json:"old"`
	New    *string `json:"new"`
}

// Recorder collects the changes of one write, to be written as one action.
// The zero value records nothing until Begin names the action.
type Recorder struct {
	Kind    string
	Table   string // the table the action is about, "" for none
	Summary string
	// Inverse holds what undoing a schema action needs, as JSON.
	Inverse json.RawMessage
	// Undoes and Redoes link undo and redo actions to the action they act on.
	Undoes, Redoes int64
	Changes        []Change
	off            bool
}

// Begin names the action the recorder collects.
func (r *Recorder) Begin(kind, table, summary string) {
	r.Kind, r.Table, r.Summary = kind, table, summary
}

// Off stops the recorder: nothing it collected is written (for writes that
// must not enter history, such as a benchmark's baseline).
func (r *Recorder) Off() { r.off = true }

// Encode returns the JSON text of a value in its API form; nil for an
// empty value.
func Encode(v any) *string {
	if v == nil {
		return nil
	}
	if l, ok := v.([]string); ok && len(l) == 0 {
		return nil
	}
	// A value with a storage form of its own for history (a password
	// hash, which answers only {"set":true} elsewhere).
	if h, ok := v.(interface{ HistoryJSON() []byte }); ok {
		s := string(h.HistoryJSON())
		return &s
	}
	b, err := json.Marshal(v)
	if err != nil {
		// Values in API form always encode; keep the failure visible.
		s := `"unencodable value"`
		return &s
	}
	s := string(b)
	return &s
}

// Cell records that a cell changed from old to new (API forms). A change
// that leaves the value as it was is not recorded.
func (r *Recorder) Cell(table, record, column string, old, new any) {
	o, n := Encode(old), Encode(new)
	if same(o, n) {
		return
	}
	r.Changes = append(r.Changes, Change{Table: table, Record: record, Column: column, Old: o, New: n})
}

// Created records that a record came into existence.
func (r *Recorder) Created(table, record string, meta RecordMeta) {
	r.Changes = append(r.Changes, Change{Table: table, Record: record, New: Encode(meta)})
}

// Deleted records that a record ceased to exist.
func (r *Recorder) Deleted(table, record string, meta RecordMeta) {
	r.Changes = append(r.Changes, Change{Table: table, Record: record, Old: Encode(meta)})
}

func same(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// Write stores the action r collected in tx, on the notebook database
// whose tables are qualified by prefix, and returns its sequence number
// (0 when nothing was recorded). keep is the notebook's history switch:
// off, the action is kept only for its author's undo.
func Write(ctx context.Context, core *store.Core, tx *store.WriteTx, prefix string, r *Recorder, keep bool) (int64, error) {
	if r == nil || r.off || r.Kind == "" || (len(r.Changes) == 0 && r.Inverse == nil) {
		return 0, nil
	}
	actor, key, client := "", "", ""
	if c := coffer.CallerFrom(ctx); c != nil {
		actor, key, client = c.UserID, c.APIKeyID, ClientOf(c)
	}
	cl := coffer.ClientFrom(ctx)
	ip := cl.IP
	if ip == "" {
		ip = "-"
	}
	inverse := ""
	if r.Inverse != nil {
		inverse = string(r.Inverse)
	}
	var undoes, redoes any
	if r.Undoes > 0 {
		undoes = r.Undoes
	}
	if r.Redoes > 0 {
		redoes = r.Redoes
	}
	kept := 0
	if keep {
		kept = 1
	}
	insert := "INSERT INTO " + prefix + "_actions (at, actor, api_key, client, ip, user_agent, kind, table_id, summary, inverse, undoes, redoes, history) " +
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	args := []any{core.NowMicros(), actor, key, client, ip, truncate(cl.UserAgent, 512), r.Kind, r.Table, truncate(r.Summary, 200), inverse, undoes, redoes, kept}
	seq, err := insertAction(ctx, core, tx, insert, args)
	if err != nil {
		return 0, err
	}
	return seq, writeChanges(ctx, core, tx, prefix, seq, r.Changes)
}

// insertAction inserts an action and returns its sequence number: on
// SQLite, where seq is the rowid, as the statement's last insert id (an
// exec, cheaper than a query); elsewhere through RETURNING.
func insertAction(ctx context.Context, core *store.Core, tx *store.WriteTx, insert string, args []any) (int64, error) {
	if core.Dialect.Name() == "sqlite" {
		res, err := tx.ExecContext(ctx, insert, args...)
		if err != nil {
			return 0, err
		}
		return res.LastInsertId()
	}
	var seq int64
	err := tx.QueryRowContext(ctx, core.Rebind(insert+" RETURNING seq"), args...).Scan(&seq)
	return seq, err
}

// changesPerInsert bounds the rows of one INSERT of changes.
const changesPerInsert = 64

// writeChanges inserts the changes of action seq, many rows per statement.
func writeChanges(ctx context.Context, core *store.Core, tx *store.WriteTx, prefix string, seq int64, changes []Change) error {
	const tuple = "(?, ?, ?, ?, ?, ?, ?)"
	for start := 0; start < len(changes); start += changesPerInsert {
		chunk := changes[start:min(start+changesPerInsert, len(changes))]
		q := "INSERT INTO " + prefix + "_changes (seq, n, table_id, record_id, column_id, old, new) VALUES " +
			strings.TrimSuffix(strings.Repeat(tuple+", ", len(chunk)), ", ")
		args := make([]any, 0, 7*len(chunk))
		for i, c := range chunk {
			args = append(args, seq, start+i, c.Table, c.Record, c.Column, nullable(c.Old), nullable(c.New))
		}
		if _, err := tx.ExecContext(ctx, core.Rebind(q), args...); err != nil {
			return err
		}
	}
	return nil
}

// ClientOf names the client session of a caller, the unit of an undo
// stack: the session, or the API key.
func ClientOf(c *coffer.Caller) string {
	if c.APIKeyID != "" {
		return c.APIKeyID
	}
	return c.SessionID
}

func nullable(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// TableInverse is the Inverse of a table action: the table as it was
// (with its columns) and, for a rename, as it became.
type TableInverse struct {
	Table *coffer.Table  `json:"table"`
	Next  *coffer.Table  `json:"next,omitempty"`
	Views []*coffer.View `json:"views,omitempty"`
}

// ColumnInverse is the Inverse of a column action: the column as it was
// (or as created), its position, and for a change what it became.
type ColumnInverse struct {
	Column   *coffer.Column `json:"column"`
	Position int            `json:"position,omitempty"`
	Next     *coffer.Column `json:"next,omitempty"`
}

// ViewInverse is the Inverse of a view action: the view before (nil when
// created) and after (nil when deleted).
type ViewInverse struct {
	Before *coffer.View `json:"before,omitempty"`
	After  *coffer.View `json:"after,omitempty"`
}

// IndexInverse is the Inverse of an index action: the table and the
// index declared (catalog.IndexDef in its stored JSON form).
type IndexInverse struct {
	Table string          `json:"table"`
	Index json.RawMessage `json:"index"`
}

// MustJSON encodes an inverse; the types above always encode.
func MustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
