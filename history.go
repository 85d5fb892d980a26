package coffer

import (
	"context"
	"encoding/json"
	"io"
	"time"
)

// HistoryQuery selects entries of a notebook's per-cell history. Every
// field is optional: the zero value asks for the newest entries of every
// table the caller may read the history of.
type HistoryQuery struct {
	// Table (id or name) limits the history to one table; Record (an id)
	// to one record of it and Column (id or name) to one column of it.
	// Record and Column need Table.
	Table, Record, Column string
	// Actor limits the history to the actions of one user (an id).
	Actor string
	// Since (inclusive) and Until (exclusive) bound the time of actions;
	// zero times do not bound.
	Since, Until time.Time
	// Cursor continues a previous page (its NextCursor).
	Cursor string
	// Limit is the number of entries per page: 1 to MaxHistoryLimit,
	// 0 for DefaultHistoryLimit.
	Limit int
}

// Limits of a history page.
const (
	DefaultHistoryLimit = 50
	MaxHistoryLimit     = 500
)

// HistoryEntry is one action of a notebook's history with the changes of
// it the caller may see.
type HistoryEntry struct {
	Seq       int64            `json:"seq"` // the action's sequence number, newest highest
	At        time.Time        `json:"at"`
	Actor     string           `json:"actor"`             // user id
	APIKey    string           `json:"api_key,omitempty"` // id of the API key the action came with
	IP        string           `json:"ip"`
	UserAgent string           `json:"user_agent"`
	Kind      string           `json:"kind"` // record.create, record.update, column.update, undo …
	Summary   string           `json:"summary"`
	Table     string           `json:"table,omitempty"` // id of the table the action is about
	Changes   []*HistoryChange `json:"changes"`
	// Truncated is set when the action changed more cells than a page
	// shows (MaxHistoryChanges, fewer on pages of many entries): the
	// history of one record shows them all, as does an export.
	Truncated bool `json:"truncated,omitempty"`
}

// MaxHistoryChanges bounds the changes of one action that a history page
// reads (an action that deleted a table holds every cell of it), unless
// the page is about one record.
const MaxHistoryChanges = 1000

// HistoryChange is one cell's change. Column and ColumnID are empty for
// the record's existence: Old null and New the record's metadata
// ({"created_at": µs, "created_by": id}) when it was created, the reverse
// when deleted. Old and New are the values' JSON forms; null is an empty
// cell.
type HistoryChange struct {
	Table    string          `json:"table"` // table id
	Record   string          `json:"record"`
	Column   string          `json:"column,omitempty"` // name now ("" for a column that no longer exists)
	ColumnID string          `json:"column_id,omitempty"`
	Old      json.RawMessage `json:"old"`
	New      json.RawMessage `json:"new"`
}

// HistoryPage is one page of history, newest first.
type HistoryPage struct {
	Entries []*HistoryEntry `json:"entries"`
	// NextCursor continues with older entries; nil at the end.
	NextCursor *string `json:"next_cursor"`
}

// HistorySize is how much history a notebook keeps: its actions
// (including those kept only for undo), their cell changes, and an
// estimate of the bytes they take.
type HistorySize struct {
	Actions int64 `json:"actions"`
	Changes int64 `json:"changes"`
	Bytes   int64 `json:"bytes"`
}

// NotebookSettingsUpdate lists the changes of UpdateNotebookSettings; nil
// fields stay as they are.
type NotebookSettingsUpdate struct {
	History              *bool `json:"history"`
	HistoryRetentionDays *int  `json:"history_retention_days"`
	AccessLog            *bool `json:"access_log"`
}

// MaxHistoryRetentionDays bounds NotebookSettings.HistoryRetentionDays.
const MaxHistoryRetentionDays = 36500

// EventHistoryExported is the kind of the audit log's entry for an export
// of history (who exported what, never the data).
const EventHistoryExported = "history.exported"

// Formats of ExportHistory.
const (
	HistoryCSV  = "csv"
	HistoryJSON = "json"
)

// HistoryService reads a notebook's history and changes its settings.
//
// Reading history needs the `history` capability on the table (owners,
// admins and editors have it on every table; grants give it on their
// rows). A caller sees only the changes to cells they may read now, of
// rows they may see now, under a grant (or role) that gives `history`:
// a change to a hidden column or row is absent, not redacted, and an
// action left with no visible change is absent. A record that no longer
// exists is shown only to callers who read the history of the whole table
// (a role, or a grant with `history` and no row condition); changes to
// tables and columns that no longer exist only to owners and admins, as
// are actions that change no cell (schema and view changes). Links to
// records the caller cannot see are left out of link values.
type HistoryService interface {
	// FindHistory returns a page of history, newest first. ENOTFOUND for a
	// notebook or table the caller cannot see (or a column hidden from
	// them), EFORBIDDEN when they may read the history of no table asked
	// for, EINVALID for a bad query (fields: table, record, column,
	// cursor, limit, until).
	FindHistory(ctx context.Context, notebook string, q HistoryQuery) (*HistoryPage, error)
	// ExportHistory writes the whole history of a table or a record
	// (q.Table is required; Cursor and Limit are ignored) to w, as CSV
	// (one row per change) or JSON (an array of entries), under the
	// rules of FindHistory. Nothing is written when it fails. Each export
	// enters the audit log (EventHistoryExported).
	ExportHistory(ctx context.Context, notebook string, q HistoryQuery, format string, w io.Writer) error
	// NotebookSettings returns a notebook's settings to anyone who can
	// see the notebook (else ENOTFOUND).
	NotebookSettings(ctx context.Context, notebook string) (*NotebookSettings, error)
	// UpdateNotebookSettings changes a notebook's settings: its owners
	// only (EFORBIDDEN for other members, ENOTFOUND for callers who cannot
	// see it; EINVALID for a retention outside 0 to
	// MaxHistoryRetentionDays). With history off, new actions are kept
	// only for their author's undo, a day.
	UpdateNotebookSettings(ctx context.Context, notebook string, upd NotebookSettingsUpdate) (*NotebookSettings, error)
	// HistorySize tells a notebook's owners how much history it keeps
	// (EFORBIDDEN for other members, ENOTFOUND for others).
	HistorySize(ctx context.Context, notebook string) (*HistorySize, error)
}
