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
		s.writeError(w, r, coffer.Errorf(coffer.ENOTFOUND, "backups are not set up on this server"))
		return
	}
	st, err := s.svc.BackupStatus(r.Context())
	w.Header().Set("Cache-Control", "no-store")
	s.reply(w, r, http.StatusOK, st, err)
}

// BackupNowFunc starts a backup now, of every notebook or of one (force:
// even unchanged), and returns the state of backups once it has started
// (its progress in "running"). ECONFLICT while another backup runs,
// ENOTFOUND for an unknown notebook.
type BackupNowFunc func(ctx context.Context, notebook string, force bool) (any, error)

// backupNow answers POST /api/v1/backups/runs, for instance operators
// signed in with a session: 202 with the state of backups.
func (s *Server) backupNow(w http.ResponseWriter, r *http.Request) {
	c := coffer.CallerFrom(r.Context())
	if c == nil || !c.Operator {
		s.writeError(w, r, coffer.Errorf(coffer.EFORBIDDEN, "only instance operators may start a backup"))
		return
	}
	var in struct {
		Notebook string `json:"notebook"`
		Force    bool   `json:"force"`
	}
	if r.ContentLength != 0 {
		if err := s.decode(w, r, &in, 0); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if s.svc.BackupNow == nil {
		s.writeError(w, r, coffer.Errorf(coffer.ENOTFOUND, "backups are not set up on this server"))
		return
	}
	st, err := s.svc.BackupNow(r.Context(), in.Notebook, in.Force)
	w.Header().Set("Cache-Control", "no-store")
	s.reply(w, r, http.StatusAccepted, st, err)
}
