package api

import (
	"net/http"

	"github.com/cofferhq/coffer"
)

// Declared indexes of a table (coffer.TableService.CreateIndex): owners,
// admins and holders of the schema right.

func (s *Server) createIndex(w http.ResponseWriter, r *http.Request) {
	var in coffer.IndexInput
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	ix, err := s.svc.Tables.CreateIndex(r.Context(), r.PathValue("notebook"), r.PathValue("table"), in)
	s.reply(w, r, http.StatusCreated, ix, err)
}

func (s *Server) listIndexes(w http.ResponseWriter, r *http.Request) {
	ixs, err := s.svc.Tables.FindIndexes(r.Context(), r.PathValue("notebook"), r.PathValue("table"))
	s.reply(w, r, http.StatusOK, map[string]any{"indexes": ixs}, err)
}

func (s *Server) deleteIndex(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Tables.DeleteIndex(r.Context(), r.PathValue("notebook"), r.PathValue("table"), r.PathValue("index")))
}
