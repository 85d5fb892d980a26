package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
)

// login checks e-mail and password. The answer is a session (key in the
// body, and in a cookie for browsers), or, for an account with a second
// factor, a challenge to answer at /api/v1/auth/login/second-factor.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.svc.Auth.Login(r.Context(), in.Email, in.Password)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if res.Challenge != nil {
		writeJSON(w, http.StatusOK, map[string]any{"second_factor_required": true, "challenge": res.Challenge.Token,
			"methods": res.Challenge.Methods, "expires_at": res.Challenge.ExpiresAt})
		return
	}
	s.startSession(w, r, res.Session)
}

// secondFactor finishes a login with a TOTP or recovery code.
func (s *Server) secondFactor(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Challenge string `json:"challenge"`
		Method    string `json:"method"`
		Code      string `json:"code"`
	}
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	sess, err := s.svc.Auth.SecondFactor(r.Context(), in.Challenge, in.Method, in.Code)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.startSession(w, r, sess)
}

// startSession answers a finished login: the session in the body and, for
// browsers, a new cookie (a new id at every login: no fixation). The
// cookie is host-only (__Host-), HTTPS only, out of reach of scripts and
// not sent by cross-site requests.
//
// A same-origin browser request (Sec-Fetch-Site: same-origin, which a
// page's script cannot forge) is the web UI: the cookie carries its
// session, so the body leaves out the session key and the device token.
// A script injected into the page could read a body, never the HttpOnly
// cookie. API clients send no such header and get the key as before.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, sess *coffer.Session) {
	s.setSessionCookie(w, sess)
	if r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		out := *sess
		out.Key, out.Device = "", ""
		writeJSON(w, http.StatusOK, browserSession{Session: &out})
		return
	}
	writeJSON(w, http.StatusOK, sess)
}

// browserSession is a finished login as the web UI receives it: no
// session key (omitted rather than empty).
type browserSession struct {
	*coffer.Session
	Key string `json:"session_key,omitempty"`
}

// setSessionCookie sets the session cookie of a finished login, and its
// device cookie: the proof, at later logins, that this browser has signed
// in to the account before (see coffer.Session.Device). It has the session
// cookie's attributes and outlives it (the token carries its own expiry).
func (s *Server) setSessionCookie(w http.ResponseWriter, sess *coffer.Session) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: sess.Key, Path: "/", Expires: sess.ExpiresAt,
		MaxAge: int(time.Until(sess.ExpiresAt).Seconds()), Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	if sess.Device != "" {
		http.SetCookie(w, &http.Cookie{Name: DeviceCookie, Value: sess.Device, Path: "/", MaxAge: int(deviceCookieAge / time.Second),
			Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
}

// deviceCookieAge is how long browsers keep the device cookie; the token
// itself expires after about as long (store.deviceLifetime).
const deviceCookieAge = 400 * 24 * time.Hour

// deviceToken returns the device token r carries: the Coffer-Device
// header (API clients), or else the device cookie.
func deviceToken(r *http.Request) string {
	if h := strings.TrimSpace(r.Header.Get(DeviceHeader)); h != "" {
		return h
	}
	if c, err := r.Cookie(DeviceCookie); err == nil {
		return c.Value
	}
	return ""
}

// clientIP returns the address of the request's client: the peer address,
// or, when the peer is a trusted proxy, the last address of
// X-Forwarded-For that is not a trusted proxy. A client cannot spoof its
// address by sending the header itself.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !s.trusted(peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !s.trusted(a) {
			return a.String()
		}
		peer = a
	}
	return peer.String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// allowed checks a caller's session restriction and API key scope against
// an endpoint: a restricted session reaches only the endpoints that finish
// its step, and a read-only key only safe methods.
func allowed(c *coffer.Caller, r *http.Request, ep endpoint) error {
	if c.Restriction != "" && !ep.allows(c.Restriction) {
		msg := "finish the required step first"
		switch c.Restriction {
		case coffer.RestrictEnrol2FA:
			msg = "your organization requires two-factor authentication: enrol a second factor first"
		case coffer.RestrictChangePassword:
			msg = "your password has expired: change it first"
		}
		return coffer.Errorf(coffer.ERESTRICTED, "%s", msg)
	}
	if c.ReadOnly && r.Method != http.MethodGet && r.Method != http.MethodHead {
		return coffer.Errorf(coffer.EFORBIDDEN, "this API key is read-only")
	}
	return nil
}
