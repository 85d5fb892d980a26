package api

import (
	"net/http"

	"github.com/cofferhq/coffer"
)

// PasswordChange is the body of POST /api/v1/auth/password.
type PasswordChange struct {
	CurrentPassword  string `json:"current_password"`
	NewPassword      string `json:"new_password"`
	EndOtherSessions bool   `json:"end_other_sessions"`
}

// PasswordChanged is its answer.
type PasswordChanged struct {
	SessionsEnded int `json:"sessions_ended"`
}

// changePassword replaces the caller's password. It stays open to
// sessions restricted to changing an expired password, and lifts that
// restriction.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	var in PasswordChange
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.CurrentPassword == "" {
		s.writeError(w, r, coffer.Invalid("the current password is required",
			coffer.FieldError{Field: "current_password", Message: "is required"}))
		return
	}
	n, err := s.svc.Accounts.ChangePassword(r.Context(), in.CurrentPassword, in.NewPassword, in.EndOtherSessions)
	s.reply(w, r, http.StatusOK, PasswordChanged{SessionsEnded: n}, err)
}
