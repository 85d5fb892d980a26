package api

import (
	"net/http"
	"strconv"

	"github.com/cofferhq/coffer"
)

// Undo, redo and the trash.

// undoOptions reads the optional body of an undo or a redo: none, or a
// JSON object {"force": bool}.
func (s *Server) undoOptions(w http.ResponseWriter, r *http.Request) (coffer.UndoOptions, error) {
	var opts coffer.UndoOptions
	if r.ContentLength == 0 {
		return opts, nil
	}
	err := s.decode(w, r, &opts, 0)
	return opts, err
}

func (s *Server) undo(w http.ResponseWriter, r *http.Request) {
	opts, err := s.undoOptions(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	d, err := s.svc.Undo.Undo(r.Context(), r.PathValue("notebook"), opts)
	s.reply(w, r, http.StatusOK, d, err)
}

func (s *Server) redo(w http.ResponseWriter, r *http.Request) {
	opts, err := s.undoOptions(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	d, err := s.svc.Undo.Redo(r.Context(), r.PathValue("notebook"), opts)
	s.reply(w, r, http.StatusOK, d, err)
}

func (s *Server) listTrash(w http.ResponseWriter, r *http.Request) {
	limit := 0
	for k, vs := range r.URL.Query() {
		if k != "limit" || len(vs) > 1 {
			s.writeError(w, r, coffer.Invalid("the query is not valid", coffer.FieldError{Field: k, Message: "is not a query parameter of the trash, or is given twice"}))
			return
		}
		n, err := strconv.Atoi(vs[0])
		if err != nil || n <= 0 {
			s.writeError(w, r, coffer.Invalid("the query is not valid", coffer.FieldError{Field: "limit", Message: "must be an integer from 1 to 1000"}))
			return
		}
		limit = n
	}
	recs, err := s.svc.Undo.FindTrash(r.Context(), r.PathValue("notebook"), r.PathValue("table"), limit)
	s.reply(w, r, http.StatusOK, map[string]any{"records": recs}, err)
}

func (s *Server) restoreRecord(w http.ResponseWriter, r *http.Request) {
	d, err := s.svc.Undo.RestoreRecord(r.Context(), r.PathValue("notebook"), r.PathValue("table"), r.PathValue("record"))
	s.reply(w, r, http.StatusOK, d, err)
}

func (s *Server) listSchemaTrash(w http.ResponseWriter, r *http.Request) {
	tr, err := s.svc.Undo.FindSchemaTrash(r.Context(), r.PathValue("notebook"))
	s.reply(w, r, http.StatusOK, tr, err)
}

func (s *Server) restoreColumn(w http.ResponseWriter, r *http.Request) {
	d, err := s.svc.Undo.RestoreColumn(r.Context(), r.PathValue("notebook"), r.PathValue("column"))
	s.reply(w, r, http.StatusOK, d, err)
}

func (s *Server) restoreTable(w http.ResponseWriter, r *http.Request) {
	d, err := s.svc.Undo.RestoreTable(r.Context(), r.PathValue("notebook"), r.PathValue("table"))
	s.reply(w, r, http.StatusOK, d, err)
}
