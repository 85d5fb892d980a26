package catalog

import (
	"context"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/audit"
)

// Event appends a security event about the account userID (email as
// known or typed) to the audit log, in the transaction tx of the change
// it records. The actor (the signed-in caller, if any), the client's
// address and user agent come from ctx. detail must never hold a secret.
func (s *Catalog) Event(ctx context.Context, tx Querier, kind, userID, email, detail string) error {
	return s.OrgEvent(ctx, tx, "", kind, userID, email, detail)
}

// OrgEvent is Event for an event of organization orgID, which its owners
// and admins read in their part of the audit log.
func (s *Catalog) OrgEvent(ctx context.Context, tx Querier, orgID, kind, userID, email, detail string) error {
	var actor string
	if c := coffer.CallerFrom(ctx); c != nil {
		actor = c.UserID
	}
	return s.Audit.Append(ctx, tx, audit.Event{Kind: kind, Actor: actor, UserID: userID, Email: email, OrgID: orgID,
		IP: ClientIP(ctx), UserAgent: coffer.ClientFrom(ctx).UserAgent, Detail: detail})
}

// ClientIP returns the request's address, or "-" outside HTTP (CLI, tests).
func ClientIP(ctx context.Context) string {
	if ip := coffer.ClientFrom(ctx).IP; ip != "" {
		return ip
	}
	return "-"
}
