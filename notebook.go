package coffer

import (
	"context"
	"time"
)

// Notebook is the unit of isolation: a set of tables kept in its own
// database (SQLite file or PostgreSQL schema).
type Notebook struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	OwnerID   string    `json:"owner_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NotebookSettings are a notebook's switches, changed by its owners.
type NotebookSettings struct {
	// History keeps every cell's changes (on by default). Off, actions
	// are kept only for undo, a day.
	History bool `json:"history"`
	// HistoryRetentionDays drops history older than that many days; 0
	// keeps it.
	HistoryRetentionDays int `json:"history_retention_days"`
	// AccessLog records who opened the notebook, read records, downloaded
	// files and exported (off by default).
	AccessLog bool `json:"access_log"`
	// HistoryFrom is the history action after which the history is whole:
	// the last action before history was last switched back on (0: it
	// always was on). Time travel refuses moments before it.
	HistoryFrom int64 `json:"-"`
}

// NotebookUpdate lists the changes of UpdateNotebook; nil fields stay as they are.
type NotebookUpdate struct {
	Name *string `json:"name"`
}

// NotebookService manages notebooks. Every method needs a caller in the
// context (EUNAUTHORIZED otherwise). Until sharing exists, a notebook is
// visible to its owner only: others get ENOTFOUND, exactly as for a
// notebook that does not exist.
type NotebookService interface {
	// CreateNotebook creates a notebook owned by the caller. EINVALID for a bad name.
	CreateNotebook(ctx context.Context, name string) (*Notebook, error)
	// FindNotebooks lists the notebooks the caller can see, by name.
	FindNotebooks(ctx context.Context) ([]*Notebook, error)
	// FindNotebook returns one notebook. ENOTFOUND.
	FindNotebook(ctx context.Context, id string) (*Notebook, error)
	// UpdateNotebook renames a notebook. ENOTFOUND, EINVALID.
	UpdateNotebook(ctx context.Context, id string, upd NotebookUpdate) (*Notebook, error)
	// DeleteNotebook deletes a notebook and all its data. ENOTFOUND.
	DeleteNotebook(ctx context.Context, id string) error
}
