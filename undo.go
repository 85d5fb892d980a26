package coffer

import (
	"context"
	"time"
)

// UndoOptions tune an undo or a redo.
type UndoOptions struct {
	// Force restores the cells even where someone changed them since the
	// action (their change is then lost, as a new action that can itself
	// be undone); without it such an undo is refused with ECONFLICT.
	Force bool `json:"force"`
}

// RecordRef names one record of a table (by ids).
type RecordRef struct {
	Table  string `json:"table"`
	Record string `json:"record"`
}

// CellRef names what is in conflict, as the caller sees it: the table's
// and the column's names and the record's id. Column is empty when the
// record itself is meant (it was deleted, or exists again, since); Record
// is empty for a column, or for cells of rows hidden from the caller;
// View names a view in conflict.
type CellRef struct {
	Table  string `json:"table"`
	Record string `json:"record,omitempty"`
	Column string `json:"column,omitempty"`
	View   string `json:"view,omitempty"`
}

// ActionDone is the action an undo, a redo or a restore made.
type ActionDone struct {
	Seq  int64  `json:"seq"`  // its history sequence number
	Kind string `json:"kind"` // undo, redo or restore
	// Of is the action undone or redone (0 for a restore).
	Of      int64  `json:"of,omitempty"`
	Summary string `json:"summary"`
	// Records are the records it created, changed or deleted.
	Records []RecordRef `json:"records"`
}

// TrashRecord is a deleted record as the trash shows it: its last values,
// only the cells the caller may read.
type TrashRecord struct {
	ID        string         `json:"id"`
	DeletedAt time.Time      `json:"deleted_at"`
	DeletedBy string         `json:"deleted_by"`
	CreatedAt time.Time      `json:"created_at"`
	CreatedBy string         `json:"created_by"`
	Fields    map[string]any `json:"fields"`
}

// TrashColumn is a deleted column of an existing table.
type TrashColumn struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Type      ColumnType `json:"type"`
	Table     string     `json:"table"` // the table's id
	DeletedAt time.Time  `json:"deleted_at"`
	DeletedBy string     `json:"deleted_by"`
}

// TrashTable is a deleted table.
type TrashTable struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Columns   int       `json:"columns"`
	Records   int       `json:"records"`
	DeletedAt time.Time `json:"deleted_at"`
	DeletedBy string    `json:"deleted_by"`
}

// SchemaTrash lists a notebook's deleted tables and columns that can
// still come back.
type SchemaTrash struct {
	Tables  []*TrashTable  `json:"tables"`
	Columns []*TrashColumn `json:"columns"`
}

// UndoService undoes and redoes the caller's own actions and brings
// deleted records, columns and tables back from the trash. Every method
// needs a caller (EUNAUTHORIZED); a notebook, table or record the caller
// cannot see answers ENOTFOUND.
//
// Undo and redo act on the caller's own latest action in the notebook
// from the same client session (a sign-in session or an API key) within
// the last day, as a new action of kind undo or redo. They are compare
// and set: a cell comes back only if it still holds the value the action
// wrote; otherwise ECONFLICT lists the cells (Error.Cells) and nothing
// changes, unless Force. They pass the access engine like any write: the
// caller needs now the rights the action needed (EFORBIDDEN otherwise).
type UndoService interface {
	// Undo undoes the caller's latest undoable action. ENOTHINGTOUNDO,
	// ECONFLICT, EFORBIDDEN.
	Undo(ctx context.Context, notebook string, opts UndoOptions) (*ActionDone, error)
	// Redo does again what the caller's latest undo undid, unless the
	// caller made a new action since. ENOTHINGTOREDO, ECONFLICT, EFORBIDDEN.
	Redo(ctx context.Context, notebook string, opts UndoOptions) (*ActionDone, error)
	// FindTrash lists a table's deleted records, newest first, at most
	// limit (1 to 1000, default 100). Needs the history capability on the
	// table; a record shows only if one of the caller's conditions with
	// that capability matches its last values, with the cells they may
	// read there. EFORBIDDEN, EINVALID.
	FindTrash(ctx context.Context, notebook, table string, limit int) ([]*TrashRecord, error)
	// RestoreRecord brings a deleted record back with its id and last
	// values, as the caller could create it (create capability, write on
	// each cell it sets). ENOTFOUND, ECONFLICT, EFORBIDDEN.
	RestoreRecord(ctx context.Context, notebook, table, record string) (*ActionDone, error)
	// FindSchemaTrash lists the deleted tables and columns that history
	// still keeps. Owners and admins, or the schema right on the whole
	// notebook. EFORBIDDEN.
	FindSchemaTrash(ctx context.Context, notebook string) (*SchemaTrash, error)
	// RestoreColumn brings a deleted column back with its id, position
	// and values. Needs the schema right on its table. ENOTFOUND,
	// ECONFLICT (its name is taken), EFORBIDDEN.
	RestoreColumn(ctx context.Context, notebook, column string) (*ActionDone, error)
	// RestoreTable brings a deleted table back with its columns, records
	// and views. Owners and admins, or the schema right on the whole
	// notebook. ENOTFOUND, ECONFLICT, EFORBIDDEN.
	RestoreTable(ctx context.Context, notebook, table string) (*ActionDone, error)
}
