package api

import (
	"net/http"

	"github.com/cofferhq/coffer"
)

// SetupLink checks the token of the first-run setup link
// (firstrun.Link): Claim runs create only for the valid, unused token
// and uses it up when create succeeds.
type SetupLink interface {
	Claim(token string, create func() error) error
}

// setupStatus tells the web UI whether the instance still needs its first
// account. It reveals nothing else: an empty instance cannot be claimed
// without the link printed in the server's terminal.
func (s *Server) setupStatus(w http.ResponseWriter, r *http.Request) {
	n, err := s.svc.Users.CountUsers(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"needed": n == 0})
}

// claimSetup creates the first account (an operator) with the setup
// link's token and signs it in, like a login.
func (s *Server) claimSetup(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token    string `json:"token"`
		Email    string `json:"email"`
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.cfg.Setup == nil || s.svc.Setup == nil {
		s.writeError(w, r, errNoSetupLink)
		return
	}
	var sess *coffer.Session
	err := s.cfg.Setup.Claim(in.Token, func() error {
		var err error
		sess, err = s.svc.Setup.ClaimInstance(r.Context(), coffer.UserInput{Email: in.Email, Name: in.Name, Password: in.Password})
		return err
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.startSession(w, r, sess)
}

// errNoSetupLink answers a claim to a server that printed no setup link
// (the instance had an account when it started).
var errNoSetupLink = coffer.Errorf(coffer.ESETUPTOKEN, "this server has no setup link: the instance had an account when it started; sign in, or create accounts with `coffer user create`")
