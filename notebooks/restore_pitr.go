package notebooks

import (
	"context"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
)

// Point-in-time restores (coffer.RestoreInput.At): the snapshot source
// (a coffer.PointInTimeSource) checks the time and names the source that
// serves the notebook as it was then; the restore then runs as one from a
// snapshot, with the same access rules, history action and audit event,
// whose detail names the time.

// pointKey carries the point in time of a restore in its context.
type pointKey struct{}

type pointInTime struct {
	id string
	at time.Time
}

// pointInTimeInput turns in.At into in.Snapshot, for a caller who may
// restore the notebook (else ENOTFOUND, as for a snapshot), and returns
// the context of the restore, which names the time in its audit event.
func (s *Service) pointInTimeInput(ctx context.Context, notebook string, in *coffer.RestoreInput) (context.Context, error) {
	if in.Snapshot != "" {
		return nil, coffer.Invalid("the restore is not valid", coffer.FieldError{Field: "at", Message: "cannot be used with snapshot"})
	}
	if in.At.IsZero() {
		return nil, coffer.Invalid("the restore is not valid", coffer.FieldError{Field: "at", Message: "must be a time (RFC 3339)"})
	}
	if _, _, err := s.mayRestore(ctx, notebook); err != nil {
		return nil, err
	}
	at := in.At.UTC()
	if at.After(s.Now()) {
		return nil, coffer.Errorf(coffer.EPOINTINTIME, "%s is in the future", at.Format(time.RFC3339))
	}
	s.bk.mu.Lock()
	src := s.bk.src
	s.bk.mu.Unlock()
	ps, ok := src.(coffer.PointInTimeSource)
	if !ok {
		return nil, coffer.Errorf(coffer.EPOINTINTIMEOFF, "point-in-time restore is off in this server (backups or WAL shipping are off; "+
			"on PostgreSQL see docs/postgres-pitr.md): restore from a snapshot instead")
	}
	id, err := ps.PointInTime(ctx, notebook, at)
	if err != nil {
		if c := coffer.ErrorCode(err); c == coffer.EPOINTINTIME || c == coffer.EPOINTINTIMEOFF || c == coffer.ENOTFOUND {
			return nil, err
		}
		return nil, s.Wrap("PointInTime", err)
	}
	in.Snapshot, in.At = id, nil
	return context.WithValue(ctx, pointKey{}, &pointInTime{id: id, at: at}), nil
}

// pointDetail names the point in time of the restore run under ctx in an
// audit event's detail, where the detail names its source's id.
func pointDetail(ctx context.Context, detail string) string {
	p, _ := ctx.Value(pointKey{}).(*pointInTime)
	if p == nil {
		return detail
	}
	return strings.Replace(detail, "snapshot "+p.id, "the point in time "+p.at.Format(time.RFC3339Nano)+" ("+p.id+")", 1)
}
