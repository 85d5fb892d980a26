package api

import (
	"net/http"
)

// ResetRequest asks for a password reset link.
type ResetRequest struct {
	Email string `json:"email"`
}

// ResetConfirm sets a new password with the token of a reset link.
type ResetConfirm struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

// ResetAccepted is the one answer to every reset request, whether or not an
// account uses the address.
type ResetAccepted struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

var resetAccepted = ResetAccepted{Status: "accepted",
	Message: "If an active account uses this address, a message with a reset link is on its way. The link works once, for 30 minutes."}

// requestPasswordReset answers 202 with the same body for every e-mail,
// known, unknown or malformed: the message, if any, is sent in the
// background, so neither the answer nor its timing tells whether an
// account exists.
func (s *Server) requestPasswordReset(w http.ResponseWriter, r *http.Request) {
	var in ResetRequest
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.svc.Resets.RequestPasswordReset(r.Context(), in.Email); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, resetAccepted)
}

// confirmPasswordReset sets the new password. It never logs anyone in:
// the person logs in afterwards, with a second factor if the account has one.
func (s *Server) confirmPasswordReset(w http.ResponseWriter, r *http.Request) {
	var in ResetConfirm
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.svc.Resets.ResetPassword(r.Context(), in.Token, in.Password); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
