package store

import (
	"context"

	"github.com/cofferhq/coffer"
)

// event appends an authentication event. A later issue hash-chains these
// rows; until then they are the audit trail of logins and account changes.
func (s *Catalog) event(ctx context.Context, tx querier, kind, userID, email, detail string) error {
	var uid any
	if userID != "" {
		uid = userID
	}
	_, err := tx.ExecContext(ctx, s.q("INSERT INTO "+s.inst.Prefix+"auth_events (id, at, kind, user_id, email, ip, detail) VALUES (?, ?, ?, ?, ?, ?, ?)"),
		coffer.NewID(coffer.PrefixEvent), s.now(), kind, uid, email, clientIP(ctx), detail)
	return err
}

// clientIP returns the request's address, or "-" outside HTTP (CLI, tests).
func clientIP(ctx context.Context) string {
	if ip := coffer.ClientFrom(ctx).IP; ip != "" {
		return ip
	}
	return "-"
}
