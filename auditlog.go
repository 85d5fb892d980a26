package coffer

import (
	"context"
	"time"
)

// AuditEntry is one entry of the verifiable audit log: a security event
// with its index in the log's Merkle tree and its leaf hash (base64 of
// the RFC 6962 hash of the entry's record bytes).
type AuditEntry struct {
	Index     int64     `json:"index"`
	Hash      string    `json:"hash"`
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"`
	Actor     string    `json:"actor,omitempty"`   // the user who acted
	UserID    string    `json:"user_id,omitempty"` // the account the event is about
	Email     string    `json:"email,omitempty"`
	OrgID     string    `json:"org_id,omitempty"`
	IP        string    `json:"ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// AuditFilter selects audit entries: by kind, by actor (the acting user's
// id), in a time range [Since, Until); newest first, Limit per page (1 to
// 500, default 100), Cursor from the page before.
type AuditFilter struct {
	Kind   string
	Actor  string
	Since  time.Time
	Until  time.Time
	Limit  int
	Cursor string
}

// AuditPage is one page of audit entries.
type AuditPage struct {
	Entries    []*AuditEntry `json:"entries"`
	NextCursor *string       `json:"next_cursor"`
}

// AuditService reads the audit log.
type AuditService interface {
	// AuditLog lists the whole log, for instance operators signed in with
	// a session (others: EFORBIDDEN). EINVALID for a bad filter or cursor.
	AuditLog(ctx context.Context, f AuditFilter) (*AuditPage, error)
	// OrgAuditLog lists the organization's part of the log, for its owners
	// and admins (and operators). Members get EFORBIDDEN; callers outside
	// the organization ENOTFOUND, as for a missing one.
	OrgAuditLog(ctx context.Context, org string, f AuditFilter) (*AuditPage, error)
}
