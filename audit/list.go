package audit

import (
	"context"
	"encoding/base64"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
)

// Page sizes of List.
const (
	DefaultLimit = 100
	MaxLimit     = 500
)

// checkFilter validates f and returns its limit and the index the page
// starts below (-1: from the newest).
func checkFilter(f *coffer.AuditFilter) (limit int, below int64, err error) {
	var fields []coffer.FieldError
	limit = f.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 1 || limit > MaxLimit:
		fields = append(fields, coffer.FieldError{Field: "limit", Message: "must be between 1 and " + strconv.Itoa(MaxLimit)})
	}
	below = -1
	if f.Cursor != "" {
		n, perr := strconv.ParseInt(f.Cursor, 10, 64)
		if perr != nil || n < 0 {
			fields = append(fields, coffer.FieldError{Field: "cursor", Message: "is not a cursor of this list"})
		}
		below = n
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		fields = append(fields, coffer.FieldError{Field: "until", Message: "must be after since"})
	}
	if len(fields) > 0 {
		return 0, 0, coffer.Invalid("the audit log query is not valid", fields...)
	}
	return limit, below, nil
}

// List returns a page of entries matching f, newest first; orgID limits
// it to one organization's entries (empty: every entry). Callers check
// rights.
func (l *Log) List(ctx context.Context, orgID string, f coffer.AuditFilter) (*coffer.AuditPage, error) {
	limit, below, err := checkFilter(&f)
	if err != nil {
		return nil, err
	}
	q := "SELECT " + entryCols + " FROM " + l.table("audit_entries") + " WHERE record IS NOT NULL"
	var args []any
	add := func(cond string, v any) { q += " AND " + cond; args = append(args, v) }
	if orgID != "" {
		add("org_id = ?", orgID)
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if !f.Since.IsZero() {
		add("at >= ?", f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		add("at < ?", f.Until.UnixMicro())
	}
	if below >= 0 {
		add("idx < ?", below)
	}
	q += " ORDER BY idx DESC LIMIT ?"
	args = append(args, limit+1)
	rows, err := l.core.Inst.R.QueryContext(ctx, l.core.Rebind(q), args...)
	if err != nil {
		return nil, l.core.Wrap("audit.List", err)
	}
	defer rows.Close()
	page := &coffer.AuditPage{Entries: []*coffer.AuditEntry{}}
	for rows.Next() {
		r, b, err := scanRecord(rows)
		if err != nil {
			return nil, l.core.Wrap("audit.List", err)
		}
		if len(page.Entries) == limit {
			next := strconv.FormatInt(page.Entries[limit-1].Index, 10)
			page.NextCursor = &next
			break
		}
		hash := tlog.RecordHash(b)
		page.Entries = append(page.Entries, &coffer.AuditEntry{Index: r.Index, Hash: base64.StdEncoding.EncodeToString(hash[:]),
			At: store.FromMicros(r.At), Kind: r.Kind, Actor: r.Actor, UserID: r.User, Email: r.Email, OrgID: r.Org,
			IP: r.IP, UserAgent: r.UA, Detail: r.Detail})
	}
	return page, l.core.Wrap("audit.List", rows.Err())
}
