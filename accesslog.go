package coffer

import (
	"context"
	"time"
)

// Kinds of access records.
const (
	AccessNotebookOpen = "notebook.open" // the notebook was opened
	AccessRecordRead   = "record.read"   // a record was read alone or appeared on a list page
	AccessFileDownload = "file.download" // a file was downloaded
	AccessExport       = "export"        // data was exported
	AccessLinkUse      = "link.use"      // a share link was used
)

// AccessKinds lists the kinds of access records.
var AccessKinds = []string{AccessNotebookOpen, AccessRecordRead, AccessFileDownload, AccessExport, AccessLinkUse}

// AccessEntry is one access record: who read what, when, from where.
type AccessEntry struct {
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"`
	UserID    string    `json:"user_id"`
	APIKeyID  string    `json:"api_key_id,omitempty"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	TableID   string    `json:"table_id,omitempty"`
	RecordID  string    `json:"record_id,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// AccessQuery selects access records; empty fields select everything.
// Entries come newest first, Limit (default DefaultLimit, at most
// MaxPageSize) at a time; Cursor continues a previous page.
type AccessQuery struct {
	Kind   string
	User   string
	Table  string // id or name
	Record string
	Since  time.Time // inclusive
	Until  time.Time // exclusive
	Limit  int
	Cursor string
}

// AccessList is a page of access records.
type AccessList struct {
	Entries    []*AccessEntry `json:"entries"`
	NextCursor *string        `json:"next_cursor"`
}

// AccessLogService reads a notebook's access records. Every method needs
// the access_log capability: owners and admins see every record; a grant
// holder sees the records of the tables where a grant gives them
// access_log, and of those only the records about rows it covers now
// (records about deleted rows only when it covers every row), and the
// notebook-wide records (openings, links) only with a grant on the whole
// notebook. EFORBIDDEN without the capability, ENOTFOUND for a notebook,
// table or record the caller cannot see, EINVALID for a bad query.
type AccessLogService interface {
	// FindAccess lists a notebook's access records.
	FindAccess(ctx context.Context, notebook string, q AccessQuery) (*AccessList, error)
	// FindReaders lists the reads of one record: who read it, when.
	FindReaders(ctx context.Context, notebook, table, record string, q AccessQuery) (*AccessList, error)
}

// Events that a watch rule can follow.
const (
	WatchRead   = "read"
	WatchExport = "export"
	WatchChange = "change"
)

// Watch is a watch rule: tell its author when someone outside a group
// reads, exports or changes records of a table that match a filter.
type Watch struct {
	ID      string `json:"id"`
	TableID string `json:"table_id"`
	Name    string `json:"name"`
	Filter  string `json:"filter"`
	// OutsideGroup is the group whose members do not trigger the rule
	// ("": everyone does).
	OutsideGroup string   `json:"outside_group,omitempty"`
	Events       []string `json:"events"`
	Email        bool     `json:"email"`
	WebhookURL   string   `json:"webhook_url,omitempty"`
	// Secret signs the webhook's requests (Standard Webhooks, whsec_…):
	// shown once, when the rule is created.
	Secret    string    `json:"secret,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// WatchInput creates or changes a watch rule; nil fields keep their value
// on update.
type WatchInput struct {
	Table        *string   `json:"table"`
	Name         *string   `json:"name"`
	Filter       *string   `json:"filter"`
	OutsideGroup *string   `json:"outside_group"`
	Events       *[]string `json:"events"`
	Email        *bool     `json:"email"`
	WebhookURL   *string   `json:"webhook_url"`
}

// Delivery statuses and channels of watch notifications.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
	ChannelEmail      = "email"
	ChannelWebhook    = "webhook"
)

// WatchDelivery is one notification of a watch rule on one channel.
type WatchDelivery struct {
	ID         string    `json:"id"`
	WatchID    string    `json:"watch_id"`
	Event      string    `json:"event"` // the event's id, the webhook-id header
	Channel    string    `json:"channel"`
	Status     string    `json:"status"`
	Attempts   int       `json:"attempts"`
	HTTPStatus int       `json:"http_status,omitempty"`
	Error      string    `json:"error,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// WatchService manages watch rules. The notebook's owners and admins, and
// holders of the access_log capability on the rule's table, may create
// rules; a rule is seen and changed by its author and the notebook's
// owners and admins. A rule's filter is checked against the table as its
// author sees it, and is evaluated with the author's access when an event
// comes: a record the author cannot see never triggers it, and a
// notification never holds a cell hidden from the author. EFORBIDDEN,
// ENOTFOUND, EINVALID.
type WatchService interface {
	// CreateWatch creates a rule; the answer holds its webhook secret,
	// never shown again.
	CreateWatch(ctx context.Context, notebook string, in WatchInput) (*Watch, error)
	// FindWatches lists the rules the caller may see.
	FindWatches(ctx context.Context, notebook string) ([]*Watch, error)
	// FindWatch returns one rule.
	FindWatch(ctx context.Context, notebook, id string) (*Watch, error)
	// UpdateWatch changes a rule.
	UpdateWatch(ctx context.Context, notebook, id string, in WatchInput) (*Watch, error)
	// DeleteWatch deletes a rule and its delivery log.
	DeleteWatch(ctx context.Context, notebook, id string) error
	// FindWatchDeliveries lists a rule's deliveries, newest first.
	FindWatchDeliveries(ctx context.Context, notebook, id string) ([]*WatchDelivery, error)
	// TestWatch sends a sample notification on the rule's channels and
	// returns the deliveries it started.
	TestWatch(ctx context.Context, notebook, id string) ([]*WatchDelivery, error)
}

// PrefixWatch and PrefixDelivery start the ids of watch rules and their
// deliveries.
const (
	PrefixWatch    = "wch_"
	PrefixDelivery = "dlv_"
)
