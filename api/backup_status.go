package api

import (
	"context"
	"net/http"

	"github.com/cofferhq/coffer"
)

// BackupStatusFunc returns the state of the instance's backups (the
// daily worker and a run's progress, the locations, the last drill) as
// a JSON-encodable value; it holds no customer data.
type BackupStatusFunc func(ctx context.Context) (any, error)

// backupStatus answers GET /api/v1/backups/status, for instance
// operators signed in with a session; others get EFORBIDDEN.
func (s *Server) backupStatus(w http.ResponseWriter, r *http.Request) {
	c := coffer.CallerFrom(r.Context())
	if c == nil || !c.Operator {
		s.writeError(w, r, coffer.Errorf(coffer.EFORBIDDEN, "only instance operators may see the state of backups"))
		return
	}
	if s.svc.BackupStatus == nil {
		s.writeError(w, r, coffer.Errorf(coffer.ENOTFOUND, "backups are off on this server (--backup-off)"))
		return
	}
	st, err := s.svc.BackupStatus(r.Context())
	w.Header().Set("Cache-Control", "no-store")
	s.reply(w, r, http.StatusOK, st, err)
}
