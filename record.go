package coffer

import (
	"context"
	"time"
)

// Record is one row of a user table. Fields maps column names to values in
// their JSON form: string (text types, dates, datetimes in RFC 3339 UTC,
// single_select), json.Number (number), bool (boolean), []string
// (multi_select, link) or nil (empty).
type Record struct {
	ID        string         `json:"id"`
	Fields    map[string]any `json:"fields"`
	Version   int64          `json:"version"`
	CreatedAt time.Time      `json:"created_at"`
	CreatedBy string         `json:"created_by"`
	UpdatedAt time.Time      `json:"updated_at"`
	UpdatedBy string         `json:"updated_by"`
	// Order lists the keys of Fields in column order, for encoding; nil
	// encodes them sorted by name.
	Order []string `json:"-"`
}

// Limits of record operations.
const (
	MaxBatch     = 1000 // operations in one batch
	MaxPageSize  = 1000 // records in one page
	DefaultLimit = 50   // records in a page when no limit is given
)

// ListQuery selects, orders and pages records.
type ListQuery struct {
	Filter string   // filter language expression; "" = all records
	Sort   string   // e.g. "-age,name"; "" = creation order
	Limit  int      // 1..MaxPageSize; 0 = DefaultLimit
	Cursor string   // opaque, from a previous page's NextCursor
	Fields []string // column names or ids to return; nil = all
	Count  bool     // also count every matching record
	View   string   // a saved view whose filter, sort and columns apply (id or name)
	// AsOf, when set, lists the records as they were at that moment
	// (TimeTravelService.FindRecordsAsOf; timetravel.go).
	AsOf *AsOf
}

// RecordList is one page of records.
type RecordList struct {
	Records    []*Record `json:"records"`
	NextCursor *string   `json:"next_cursor"`
	Total      *int64    `json:"total,omitempty"`
	// AsOf is the moment a list at a past moment shows (timetravel.go).
	AsOf *HistoryPoint `json:"as_of,omitempty"`
}

// Batch operation kinds.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpDelete = "delete"
)

// BatchOp is one operation of a batch.
type BatchOp struct {
	Op      string         `json:"op"`      // create, update or delete
	ID      string         `json:"id"`      // update and delete
	Fields  map[string]any `json:"fields"`  // create and update
	Version int64          `json:"version"` // update and delete: expected version, 0 = any
}

// BatchResult holds the outcome of each operation, in order: the record for
// create and update, the id alone for delete.
type BatchResult struct {
	Results []*Record `json:"results"`
}

// RecordService reads and writes records. Tables are named by id or name,
// fields by column name or id. Every method needs a caller who can see the
// notebook (ENOTFOUND otherwise). Each method is one transaction.
type RecordService interface {
	// CreateRecord validates and inserts a record. EINVALID lists every bad field.
	CreateRecord(ctx context.Context, notebook, table string, fields map[string]any) (*Record, error)
	// FindRecord returns one record. ENOTFOUND.
	FindRecord(ctx context.Context, notebook, table, id string) (*Record, error)
	// UpdateRecord changes the given fields. With version > 0 the record must
	// still have that version (EVERSION otherwise). ENOTFOUND, EINVALID.
	UpdateRecord(ctx context.Context, notebook, table, id string, fields map[string]any, version int64) (*Record, error)
	// DeleteRecord deletes a record; version as for UpdateRecord. ENOTFOUND, EVERSION.
	DeleteRecord(ctx context.Context, notebook, table, id string, version int64) error
	// FindRecords lists records with a filter, sort and keyset pagination.
	// EINVALID for a bad filter, sort, limit or cursor.
	FindRecords(ctx context.Context, notebook, table string, q ListQuery) (*RecordList, error)
	// Batch applies up to MaxBatch operations in one transaction: all or
	// nothing. Errors name the failing operation as "operations[i].field".
	Batch(ctx context.Context, notebook, table string, ops []BatchOp) (*BatchResult, error)
}

// View is a saved filter, sort and set of visible columns on a table.
type View struct {
	ID        string    `json:"id"`
	TableID   string    `json:"table_id"`
	Name      string    `json:"name"`
	Filter    string    `json:"filter"`
	Sort      string    `json:"sort"`
	Columns   []string  `json:"columns"` // visible column ids, in order; empty = all
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ViewInput describes a view to create or replace. Columns may be names or ids.
type ViewInput struct {
	Name    string   `json:"name"`
	Filter  string   `json:"filter"`
	Sort    string   `json:"sort"`
	Columns []string `json:"columns"`
}

// ViewUpdate lists the changes of UpdateView; nil fields stay as they are.
type ViewUpdate struct {
	Name    *string   `json:"name"`
	Filter  *string   `json:"filter"`
	Sort    *string   `json:"sort"`
	Columns *[]string `json:"columns"`
}

// ViewService manages saved views. Filters and sorts are checked against
// the table when saved (EINVALID).
type ViewService interface {
	CreateView(ctx context.Context, notebook, table string, in ViewInput) (*View, error)
	FindViews(ctx context.Context, notebook, table string) ([]*View, error)
	FindView(ctx context.Context, notebook, table, view string) (*View, error)
	UpdateView(ctx context.Context, notebook, table, view string, upd ViewUpdate) (*View, error)
	DeleteView(ctx context.Context, notebook, table, view string) error
}
