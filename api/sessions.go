package api

import (
	"net/http"

	"github.com/cofferhq/coffer"
)

// userParam returns the {user} path value, with "me" standing for the caller.
func userParam(r *http.Request) string {
	if u := r.PathValue("user"); u != "me" {
		return u
	}
	return coffer.CallerFrom(r.Context()).UserID
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	list, err := s.svc.Sessions.ListSessions(r.Context(), userParam(r))
	s.reply(w, r, http.StatusOK, map[string]any{"sessions": list}, err)
}

func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Sessions.RevokeSession(r.Context(), r.PathValue("session")))
}

func (s *Server) logoutOthers(w http.ResponseWriter, r *http.Request) {
	n, err := s.svc.Sessions.RevokeOtherSessions(r.Context())
	s.reply(w, r, http.StatusOK, map[string]any{"ended": n}, err)
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) {
	var in coffer.APIKeyInput
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	k, err := s.svc.Sessions.CreateAPIKey(r.Context(), in)
	s.reply(w, r, http.StatusCreated, k, err)
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) {
	list, err := s.svc.Sessions.ListAPIKeys(r.Context(), userParam(r))
	s.reply(w, r, http.StatusOK, map[string]any{"api_keys": list}, err)
}

func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Sessions.RevokeAPIKey(r.Context(), r.PathValue("key")))
}
