package api

import (
	"net/http"

	"github.com/cofferhq/coffer"
)

// Members and grants of a notebook, and the explanation of a user's access.

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) {
	ms, err := s.svc.Sharing.FindMembers(r.Context(), r.PathValue("notebook"))
	s.reply(w, r, http.StatusOK, map[string]any{"members": ms}, err)
}

func (s *Server) putMember(w http.ResponseWriter, r *http.Request) {
	var in coffer.MemberInput
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.svc.Sharing.PutMember(r.Context(), r.PathValue("notebook"), r.PathValue("principal"), in)
	s.reply(w, r, http.StatusOK, m, err)
}

func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Sharing.DeleteMember(r.Context(), r.PathValue("notebook"), r.PathValue("principal")))
}

func (s *Server) createGrant(w http.ResponseWriter, r *http.Request) {
	var in coffer.GrantInput
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	g, err := s.svc.Sharing.CreateGrant(r.Context(), r.PathValue("notebook"), in)
	s.reply(w, r, http.StatusCreated, g, err)
}

func (s *Server) listGrants(w http.ResponseWriter, r *http.Request) {
	gs, err := s.svc.Sharing.FindGrants(r.Context(), r.PathValue("notebook"))
	s.reply(w, r, http.StatusOK, map[string]any{"grants": gs}, err)
}

func (s *Server) getGrant(w http.ResponseWriter, r *http.Request) {
	g, err := s.svc.Sharing.FindGrant(r.Context(), r.PathValue("notebook"), r.PathValue("grant"))
	s.reply(w, r, http.StatusOK, g, err)
}

func (s *Server) updateGrant(w http.ResponseWriter, r *http.Request) {
	var in coffer.GrantUpdate
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	g, err := s.svc.Sharing.UpdateGrant(r.Context(), r.PathValue("notebook"), r.PathValue("grant"), in)
	s.reply(w, r, http.StatusOK, g, err)
}

func (s *Server) deleteGrant(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Sharing.DeleteGrant(r.Context(), r.PathValue("notebook"), r.PathValue("grant")))
}

func (s *Server) explainAccess(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	in := coffer.ExplainQuery{User: q.Get("user"), Table: q.Get("table"), Record: q.Get("record")}
	if in.Table == "" {
		s.writeError(w, r, coffer.Invalid("the explanation needs a table", coffer.FieldError{Field: "table", Message: "is required"}))
		return
	}
	e, err := s.svc.Sharing.Explain(r.Context(), r.PathValue("notebook"), in)
	s.reply(w, r, http.StatusOK, e, err)
}
