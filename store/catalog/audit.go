package catalog

import (
	"context"

	"github.com/cofferhq/coffer"
)

// Event appends an authentication event. A later issue hash-chains these
// rows; until then they are the audit trail of logins and account changes.
func (s *Catalog) Event(ctx context.Context, tx Querier, kind, userID, email, detail string) error {
	var uid any
	if userID != "" {
		uid = userID
	}
	_, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"auth_events (id, at, kind, user_id, email, ip, detail) VALUES (?, ?, ?, ?, ?, ?, ?)"),
		coffer.NewID(coffer.PrefixEvent), s.NowMicros(), kind, uid, email, ClientIP(ctx), detail)
	return err
}

// ClientIP returns the request's address, or "-" outside HTTP (CLI, tests).
func ClientIP(ctx context.Context) string {
	if ip := coffer.ClientFrom(ctx).IP; ip != "" {
		return ip
	}
	return "-"
}
