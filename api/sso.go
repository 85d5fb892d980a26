package api

import (
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
)

// SSOCookie holds the browser binding of a single sign-on login between
// its start and the provider's callback: a login started in one browser
// cannot be finished in another (no login CSRF).
const SSOCookie = "__Host-coffer_sso"

// SSOCallbackPath is the redirect URI to register at identity providers,
// after the server's public URL.
const SSOCallbackPath = "/api/v1/auth/sso/callback"

// redirectURI returns the callback URL, or an error when the server does
// not know its public URL.
func (s *Server) redirectURI() (string, error) {
	if s.svc.SSO == nil || s.cfg.PublicURL == "" {
		return "", coffer.Errorf(coffer.EUNAVAILABLE, "single sign-on is not configured: the server needs its public URL (--public-url)")
	}
	return s.cfg.PublicURL + SSOCallbackPath, nil
}

// wantsJSON reports whether the client asked for JSON rather than a
// redirect (scripts and the web UI's fetch calls).
func wantsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "application/json" {
			return true
		}
	}
	return false
}

// ssoStarted answers a started login: the binding cookie, then a redirect
// to the provider or the URL as JSON.
func (s *Server) ssoStarted(w http.ResponseWriter, r *http.Request, start *coffer.SSOStart, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SSOCookie, Value: start.Binding, Path: "/", Expires: start.ExpiresAt,
		MaxAge: int(coffer.SSOStateLifetime.Seconds()), Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, ssoStartJSON{URL: start.URL, ExpiresAt: start.ExpiresAt})
		return
	}
	http.Redirect(w, r, start.URL, http.StatusFound)
}

// ssoStartJSON is the JSON answer of a started login.
type ssoStartJSON struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) ssoStart(w http.ResponseWriter, r *http.Request) {
	ru, err := s.redirectURI()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	start, err := s.svc.SSO.StartSSO(r.Context(), r.PathValue("provider"), ru)
	s.ssoStarted(w, r, start, err)
}

func (s *Server) ssoLink(w http.ResponseWriter, r *http.Request) {
	ru, err := s.redirectURI()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	start, err := s.svc.SSO.StartSSOLink(r.Context(), r.PathValue("provider"), ru)
	s.ssoStarted(w, r, start, err)
}

// ssoCallback finishes a login when the provider sends the browser back.
func (s *Server) ssoCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	cb := coffer.SSOCallback{State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error")}
	if c, err := r.Cookie(SSOCookie); err == nil {
		cb.Binding = c.Value
	}
	if _, err := s.redirectURI(); err != nil {
		s.writeError(w, r, err)
		return
	}
	// The binding has served its purpose, whatever the outcome.
	http.SetCookie(w, &http.Cookie{Name: SSOCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	sess, err := s.svc.SSO.FinishSSO(r.Context(), cb)
	if err != nil {
		if wantsJSON(r) {
			s.writeError(w, r, err)
			return
		}
		// A browser lands on the sign-in page, which says in plain words
		// what went wrong: only a fixed word travels in the URL, never a
		// message (no text of anyone's choosing on the page).
		s.log.Info("single sign-on refused", "code", coffer.ErrorCode(err), "error", err.Error())
		http.Redirect(w, r, s.cfg.PublicURL+"/login?sso="+ssoFailure(err), http.StatusSeeOther)
		return
	}
	if wantsJSON(r) {
		s.startSession(w, r, sess)
		return
	}
	s.setSessionCookie(w, sess)
	http.Redirect(w, r, s.cfg.PublicURL+"/", http.StatusSeeOther)
}

// ssoProviderList is the answer of the provider list, with the redirect
// URI to register at providers.
type ssoProviderList struct {
	Providers   []*coffer.SSOProvider `json:"sso_providers"`
	RedirectURI string                `json:"redirect_uri"`
}

func (s *Server) listSSOProviders(w http.ResponseWriter, r *http.Request) {
	list, err := s.svc.SSO.ListSSOProviders(r.Context(), r.PathValue("org"))
	ru, _ := s.redirectURI()
	s.reply(w, r, http.StatusOK, ssoProviderList{Providers: list, RedirectURI: ru}, err)
}

func (s *Server) createSSOProvider(w http.ResponseWriter, r *http.Request) {
	var in coffer.SSOProviderInput
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.svc.SSO.CreateSSOProvider(r.Context(), r.PathValue("org"), in)
	s.reply(w, r, http.StatusCreated, p, err)
}

func (s *Server) deleteSSOProvider(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.SSO.DeleteSSOProvider(r.Context(), r.PathValue("org"), r.PathValue("provider")))
}

// signInOptions tells the sign-in page which buttons to show besides the
// password: the single sign-on providers (see SSOService.SignInProviders)
// and whether passkeys work on this server.
func (s *Server) signInOptions(w http.ResponseWriter, r *http.Request) {
	out := signInOptions{SSOProviders: []coffer.SignInProvider{}}
	if s.svc.MFA != nil {
		out.Passkeys = s.svc.MFA.PasskeysOn()
	}
	if s.svc.SSO != nil && s.cfg.PublicURL != "" {
		list, err := s.svc.SSO.SignInProviders(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out.SSOProviders = list
	}
	writeJSON(w, http.StatusOK, out)
}

// signInOptions is the answer of GET /api/v1/auth/sign-in-options.
type signInOptions struct {
	SSOProviders []coffer.SignInProvider `json:"sso_providers"`
	Passkeys     bool                    `json:"passkeys"`
}

// ssoFailure is the word the sign-in page gets for a refused single
// sign-on: not_linked (an account uses the e-mail but is not linked to
// the provider), unavailable (the provider could not be reached),
// rate_limited, or refused (anything else: the details are in the
// sso.failed event).
func ssoFailure(err error) string {
	switch coffer.ErrorCode(err) {
	case coffer.EFORBIDDEN:
		return "not_linked"
	case coffer.EUNAVAILABLE, coffer.EINTERNAL:
		return "unavailable"
	case coffer.ETOOMANY:
		return "rate_limited"
	}
	return "refused"
}
