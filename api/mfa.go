package api

import (
	"encoding/json"
	"net/http"

	"github.com/cofferhq/coffer"
)

// Second factors: enrolment of TOTP and passkeys, recovery codes, and
// passkey logins. Enrolment endpoints stay open to a session restricted to
// enrolling a second factor.

// recoveryCodes is the answer that shows new recovery codes, once.
type recoveryCodes struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

func (s *Server) mfaStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.svc.MFA.MFAStatus(r.Context())
	s.reply(w, r, http.StatusOK, st, err)
}

func (s *Server) beginTOTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Password string `json:"password"`
	}
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	e, err := s.svc.MFA.BeginTOTP(r.Context(), in.Password)
	s.reply(w, r, http.StatusOK, e, err)
}

func (s *Server) confirmTOTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Code string `json:"code"`
	}
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	codes, err := s.svc.MFA.ConfirmTOTP(r.Context(), in.Code)
	s.reply(w, r, http.StatusOK, recoveryCodes{codes}, err)
}

func (s *Server) disableTOTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Password string `json:"password"`
		Code     string `json:"code"`
	}
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.replyEmpty(w, r, s.svc.MFA.DisableTOTP(r.Context(), in.Password, in.Code))
}

func (s *Server) regenerateRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Password string `json:"password"`
	}
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	codes, err := s.svc.MFA.RegenerateRecoveryCodes(r.Context(), in.Password)
	s.reply(w, r, http.StatusOK, recoveryCodes{codes}, err)
}

// writeRaw sends JSON that the service already encoded (WebAuthn options).
func (s *Server) writeRaw(w http.ResponseWriter, r *http.Request, raw json.RawMessage, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(raw)
}

func (s *Server) beginPasskeyRegistration(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Password string `json:"password"`
	}
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	raw, err := s.svc.MFA.BeginPasskeyRegistration(r.Context(), in.Password)
	s.writeRaw(w, r, raw, err)
}

func (s *Server) finishPasskeyRegistration(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name       string          `json:"name"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	pk, codes, err := s.svc.MFA.FinishPasskeyRegistration(r.Context(), in.Name, in.Credential)
	s.reply(w, r, http.StatusCreated, struct {
		Passkey       *coffer.Passkey `json:"passkey"`
		RecoveryCodes []string        `json:"recovery_codes"`
	}{pk, codes}, err)
}

func (s *Server) listPasskeys(w http.ResponseWriter, r *http.Request) {
	list, err := s.svc.MFA.ListPasskeys(r.Context())
	s.reply(w, r, http.StatusOK, map[string]any{"passkeys": list}, err)
}

func (s *Server) deletePasskey(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Password string `json:"password"`
	}
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.replyEmpty(w, r, s.svc.MFA.DeletePasskey(r.Context(), r.PathValue("passkey"), in.Password))
}

func (s *Server) beginPasskeyLogin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Challenge string `json:"challenge"`
	}
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	raw, err := s.svc.MFA.BeginPasskeyLogin(r.Context(), in.Challenge)
	s.writeRaw(w, r, raw, err)
}

func (s *Server) finishPasskeyLogin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Challenge  string          `json:"challenge"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	sess, err := s.svc.MFA.FinishPasskeyLogin(r.Context(), in.Challenge, in.Credential)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.startSession(w, r, sess)
}
