package coffer

import (
	"context"
	"encoding/json"
	"time"
)

// ColumnType is the type of a column's values.
type ColumnType string

// The column types.
const (
	TypeText         ColumnType = "text"
	TypeLongText     ColumnType = "long_text"
	TypeNumber       ColumnType = "number"
	TypeBoolean      ColumnType = "boolean"
	TypeDate         ColumnType = "date"
	TypeDateTime     ColumnType = "datetime"
	TypeSingleSelect ColumnType = "single_select"
	TypeMultiSelect  ColumnType = "multi_select"
	TypeEmail        ColumnType = "email"
	TypeURL          ColumnType = "url"
	TypePhone        ColumnType = "phone"
	TypeLink         ColumnType = "link"
	TypeCreatedAt    ColumnType = "created_at"
	TypeCreatedBy    ColumnType = "created_by"
	TypeUpdatedAt    ColumnType = "updated_at"
	TypeUpdatedBy    ColumnType = "updated_by"
	// TypeEncrypted holds text sealed under a key derived from the
	// column's password, which the server never stores (colkey).
	TypeEncrypted ColumnType = "encrypted"
	// TypePassword holds an argon2id hash of a password: write-only,
	// checked by RecordService verification, never read back.
	TypePassword ColumnType = "password"
	// TypeFile holds encrypted files, added by upload only (file.go).
	TypeFile ColumnType = "file"
)

// ColumnTypes lists every column type, in documentation order.
var ColumnTypes = []ColumnType{
	TypeText, TypeLongText, TypeNumber, TypeBoolean, TypeDate, TypeDateTime,
	TypeSingleSelect, TypeMultiSelect, TypeEmail, TypeURL, TypePhone, TypeLink,
	TypeCreatedAt, TypeCreatedBy, TypeUpdatedAt, TypeUpdatedBy,
	TypeEncrypted, TypePassword, TypeFile,
}

// Secret reports whether values of the type are never compared by the
// server: they cannot be filtered, sorted, grouped, indexed or converted.
func (t ColumnType) Secret() bool {
	return t == TypeEncrypted || t == TypePassword
}

// Automatic reports whether values of the type are set by Coffer, never by clients.
func (t ColumnType) Automatic() bool {
	switch t {
	case TypeCreatedAt, TypeCreatedBy, TypeUpdatedAt, TypeUpdatedBy:
		return true
	}
	return false
}

// Valid reports whether t is a known column type.
func (t ColumnType) Valid() bool {
	for _, k := range ColumnTypes {
		if k == t {
			return true
		}
	}
	return false
}

// ColumnOptions are the type-specific settings of a column.
type ColumnOptions struct {
	// Precision is the number of decimal places of a number column (0..9);
	// 0 means integers.
	Precision int `json:"precision,omitempty"`
	// Choices are the allowed values of a single_select or multi_select column.
	Choices []string `json:"choices,omitempty"`
	// Table is the id of the table that a link column points to (a name is
	// accepted on input).
	Table string `json:"table,omitempty"`
	// Multiple allows a link column to hold several records.
	Multiple bool `json:"multiple,omitempty"`
	// Collation is how a text-like column (text, long_text, email, url,
	// phone, single_select) sorts: "" (or "unicode" on input) in Unicode
	// collation order, case and accents second to the letters; "binary"
	// bytewise, by the UTF-8 bytes of the values.
	Collation string `json:"collation,omitempty"`
	// Password is, on input only, the password of an encrypted column:
	// at creation, or as the new one when changing it (with
	// CurrentPassword). It is never stored nor encoded: MarshalJSON
	// drops both.
	Password        string `json:"password,omitempty"`
	CurrentPassword string `json:"current_password,omitempty"`
	// Encryption is how the key of an encrypted column is derived from
	// its password and checked (set by the server, never by clients).
	Encryption *ColumnEncryption `json:"encryption,omitempty"`
}

// MarshalJSON encodes the options without the passwords, wherever they
// go: API answers, the catalogue, history.
func (o ColumnOptions) MarshalJSON() ([]byte, error) {
	type plain ColumnOptions
	p := plain(o)
	p.Password, p.CurrentPassword = "", ""
	return json.Marshal(p)
}

// ColumnEncryption is the public part of an encrypted column's key: the
// argon2id parameters and salt that derive it from the password, and a
// check value that tells a right password from a wrong one. The format is
// in docs/encrypted-columns.md.
type ColumnEncryption struct {
	Version int    `json:"version"` // 1
	KDF     string `json:"kdf"`     // "argon2id"
	Memory  uint32 `json:"memory"`  // KiB
	Time    uint32 `json:"time"`
	Threads uint8  `json:"threads"`
	Salt    string `json:"salt"`  // standard base64 with padding
	Check   string `json:"check"` // standard base64 with padding
}

// The collations of text-like columns (ColumnOptions.Collation).
const (
	CollationUnicode = "unicode"
	CollationBinary  = "binary"
)

// Column is a typed column of a table. Its ID is stable: renames change only Name.
type Column struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Type      ColumnType    `json:"type"`
	Options   ColumnOptions `json:"options"`
	CreatedAt time.Time     `json:"created_at"`
}

// Table is a user table of a notebook.
type Table struct {
	ID         string      `json:"id"`
	NotebookID string      `json:"notebook_id"`
	Name       string      `json:"name"`
	Columns    []*Column   `json:"columns"`
	Layout     TableLayout `json:"layout"`
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
}

// TableLayout is how clients show a table's columns to everyone who opens
// it: their order, widths in pixels and the hidden ones, by column id. It
// is a presentation choice shared by all, not access: a hidden column is
// still readable by whoever may read it. Columns missing from Order follow
// the listed ones in table order; ids of columns deleted since are dropped
// when the table is read.
type TableLayout struct {
	Order  []string       `json:"order,omitempty"`
	Widths map[string]int `json:"widths,omitempty"`
	Hidden []string       `json:"hidden,omitempty"`
}

// The bounds of a column width in a TableLayout, in pixels.
const (
	MinColumnWidth = 40
	MaxColumnWidth = 2000
)

// Empty reports whether l sets nothing.
func (l TableLayout) Empty() bool {
	return len(l.Order) == 0 && len(l.Widths) == 0 && len(l.Hidden) == 0
}

// Only returns l without the column ids that keep reports false for.
func (l TableLayout) Only(keep func(id string) bool) TableLayout {
	var out TableLayout
	for _, id := range l.Order {
		if keep(id) {
			out.Order = append(out.Order, id)
		}
	}
	for id, w := range l.Widths {
		if keep(id) {
			if out.Widths == nil {
				out.Widths = map[string]int{}
			}
			out.Widths[id] = w
		}
	}
	for _, id := range l.Hidden {
		if keep(id) {
			out.Hidden = append(out.Hidden, id)
		}
	}
	return out
}

// Column returns the column with the given id or name, or nil. Ids take
// precedence over names.
func (t *Table) Column(idOrName string) *Column {
	for _, c := range t.Columns {
		if c.ID == idOrName {
			return c
		}
	}
	for _, c := range t.Columns {
		if c.Name == idOrName {
			return c
		}
	}
	return nil
}

// ColumnInput describes a column to create.
type ColumnInput struct {
	Name    string        `json:"name"`
	Type    ColumnType    `json:"type"`
	Options ColumnOptions `json:"options"`
}

// TableInput describes a table to create.
type TableInput struct {
	Name    string        `json:"name"`
	Columns []ColumnInput `json:"columns"`
}

// TableUpdate lists the changes of UpdateTable; nil fields stay as they are.
type TableUpdate struct {
	Name *string `json:"name"`
	// Layout replaces the table's layout (owners and those with the schema
	// right). Entries of columns hidden from the caller by their access are
	// kept as they were.
	Layout *TableLayout `json:"layout"`
}

// ColumnUpdate lists the changes of UpdateColumn; nil fields stay as they are.
type ColumnUpdate struct {
	Name    *string        `json:"name"`
	Type    *ColumnType    `json:"type"`
	Options *ColumnOptions `json:"options"`
	// DryRun checks a type or option change and reports what would fail,
	// without changing anything.
	DryRun bool `json:"dry_run"`
}

// TableService manages the schema of a notebook. Tables and columns are
// named by id or by name. Every method needs a caller who can see the
// notebook (ENOTFOUND otherwise).
type TableService interface {
	// CreateTable creates a table with its columns. EINVALID, ECONFLICT for a taken name.
	CreateTable(ctx context.Context, notebook string, in TableInput) (*Table, error)
	// FindTables lists the tables of a notebook.
	FindTables(ctx context.Context, notebook string) ([]*Table, error)
	// FindTable returns one table. ENOTFOUND.
	FindTable(ctx context.Context, notebook, table string) (*Table, error)
	// UpdateTable renames a table or sets its layout. ENOTFOUND, EINVALID
	// (unknown column ids, widths outside 40..2000), ECONFLICT.
	UpdateTable(ctx context.Context, notebook, table string, upd TableUpdate) (*Table, error)
	// DeleteTable deletes a table and its records. ENOTFOUND; ECONFLICT while
	// link columns of other tables point to it.
	DeleteTable(ctx context.Context, notebook, table string) error
	// CreateColumn adds a column. EINVALID, ECONFLICT.
	CreateColumn(ctx context.Context, notebook, table string, in ColumnInput) (*Column, error)
	// UpdateColumn renames a column or changes its type or options. A type
	// change converts every value; when some cannot be converted nothing
	// changes and ECONVERSION lists them (Fields name the record ids).
	UpdateColumn(ctx context.Context, notebook, table, column string, upd ColumnUpdate) (*Column, error)
	// DeleteColumn deletes a column and its values. ENOTFOUND.
	DeleteColumn(ctx context.Context, notebook, table, column string) error
	// CreateIndex declares an index over several columns of a table
	// (owners, admins and holders of the schema right). EINVALID (columns
	// missing, hidden from the caller, repeated, not indexable, too many,
	// entries that could pass catalog.IndexEntryBudget bytes),
	// ECONFLICT (the same index exists), EINVALID also for a table with
	// MaxTableIndexes already; EFORBIDDEN without the right.
	CreateIndex(ctx context.Context, notebook, table string, in IndexInput) (*TableIndex, error)
	// FindIndexes lists a table's declared indexes, but those over a
	// column hidden from the caller. EFORBIDDEN without the schema right.
	FindIndexes(ctx context.Context, notebook, table string) ([]*TableIndex, error)
	// DeleteIndex drops a declared index. ENOTFOUND (also for one over a
	// column hidden from the caller), EFORBIDDEN without the schema right.
	DeleteIndex(ctx context.Context, notebook, table, index string) error
}

// The bounds of declared indexes (TableService.CreateIndex).
const (
	MaxIndexColumns = 5  // columns of one index
	MaxTableIndexes = 10 // declared indexes of one table
)

// IndexInput declares an index over several columns of a table: column
// names or ids, in order, each with "-" before it to order it descending.
type IndexInput struct {
	Columns []string `json:"columns"`
	// Unique must be false: a unique index would tell a writer that a row
	// they may not see holds the value they write.
	Unique bool `json:"unique"`
}

// TableIndex is an index over several columns of a table, declared by its
// owners so that filters on the leading columns, sorted by the next, are
// served by it. The SQL index is named by ID; a renamed column keeps it,
// a deleted column drops it.
type TableIndex struct {
	ID        string    `json:"id"`
	Columns   []string  `json:"columns"` // names, "-" before descending ones
	Unique    bool      `json:"unique"`
	CreatedAt time.Time `json:"created_at"`
}

// SecretColumnService opens encrypted columns for a session and checks
// the values of password columns. Columns and tables are named by id or
// name; a column hidden from the caller answers ENOTFOUND, like a missing
// one. Every attempt goes into the audit log, never with a password.
type SecretColumnService interface {
	// UnlockColumn checks the password of an encrypted column and keeps
	// the derived key in the server's memory for the caller's session (or
	// API key) until the returned moment (a fixed 5 minutes). EKEY for a
	// wrong password, EINVALID for a column of another type.
	UnlockColumn(ctx context.Context, notebook, table, column, password string) (time.Time, error)
	// LockColumn forgets the key the caller's session holds for the column.
	LockColumn(ctx context.Context, notebook, table, column string) error
	// VerifyCellPassword reports whether password matches the password
	// cell of a record the caller may read (ENOTFOUND otherwise); an
	// empty cell, or one the caller may not read in that row, never matches.
	VerifyCellPassword(ctx context.Context, notebook, table, record, column, password string) (bool, error)
}
