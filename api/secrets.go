package api

import (
	"net/http"
	"sync"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/colkey"
)

// The limits of attempts at a secret column, per node, in a fixed window:
// unlocks per column (and holder) and per client IP; verifications per
// record cell and per client IP. Every attempt counts, before it is
// checked.
const (
	secretWindow      = time.Minute
	unlockPerColumn   = 5
	unlockPerIP       = 20
	verifyPerCell     = 10
	verifyPerIP       = 60
	maxThrottleKeys   = 100_000
	secretPasswordMax = 4096 // bytes of a password in a body
)

// attempts counts attempts per key in fixed windows, in memory.
type attempts struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*window
}

type window struct {
	start time.Time
	n     int
}

func newAttempts() *attempts { return &attempts{now: time.Now, m: map[string]*window{}} }

// take counts one attempt against each key with its limit; when any is
// over its limit it returns ETOOMANY with the wait until its window ends.
func (a *attempts) take(limits map[string]int) error {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.m) > maxThrottleKeys {
		for k, w := range a.m {
			if now.Sub(w.start) >= secretWindow {
				delete(a.m, k)
			}
		}
	}
	var wait time.Duration
	for k, max := range limits {
		w := a.m[k]
		if w == nil || now.Sub(w.start) >= secretWindow {
			w = &window{start: now}
			a.m[k] = w
		}
		w.n++
		if w.n > max {
			wait = maxDur(wait, w.start.Add(secretWindow).Sub(now))
		}
	}
	if wait > 0 {
		return coffer.TooMany(wait)
	}
	return nil
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// passwordBody is the body of an unlock or a verification.
type passwordBody struct {
	Password string `json:"password"`
}

func (s *Server) readPassword(w http.ResponseWriter, r *http.Request) (string, error) {
	var in passwordBody
	if err := s.decode(w, r, &in, secretPasswordMax+1024); err != nil {
		return "", err
	}
	if in.Password == "" {
		return "", coffer.Invalid("the request is not valid", coffer.FieldError{Field: "password", Message: "is required"})
	}
	return in.Password, nil
}

// unlockColumn checks a column password and keeps the key for the session.
func (s *Server) unlockColumn(w http.ResponseWriter, r *http.Request) {
	if s.svc.Secrets == nil {
		s.writeError(w, r, coffer.Errorf(coffer.ENOTFOUND, "not found"))
		return
	}
	pw, err := s.readPassword(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	nb, tb, col := r.PathValue("notebook"), r.PathValue("table"), r.PathValue("column")
	holder := colkey.Holder(coffer.CallerFrom(r.Context()))
	if err := s.secretTries.take(map[string]int{
		"unlock:col:" + nb + "/" + tb + "/" + col + "/" + holder: unlockPerColumn,
		"unlock:col:" + nb + "/" + tb + "/" + col:                unlockPerColumn * 4,
		"unlock:ip:" + s.clientIP(r):                             unlockPerIP,
	}); err != nil {
		s.writeError(w, r, err)
		return
	}
	until, err := s.svc.Secrets.UnlockColumn(r.Context(), nb, tb, col, pw)
	s.reply(w, r, http.StatusOK, map[string]any{"unlocked": true, "expires_at": until.UTC()}, err)
}

// lockColumn forgets the session's key of a column.
func (s *Server) lockColumn(w http.ResponseWriter, r *http.Request) {
	if s.svc.Secrets == nil {
		s.writeError(w, r, coffer.Errorf(coffer.ENOTFOUND, "not found"))
		return
	}
	s.replyEmpty(w, r, s.svc.Secrets.LockColumn(r.Context(), r.PathValue("notebook"), r.PathValue("table"), r.PathValue("column")))
}

// verifyCellPassword answers whether a password matches a password cell.
func (s *Server) verifyCellPassword(w http.ResponseWriter, r *http.Request) {
	if s.svc.Secrets == nil {
		s.writeError(w, r, coffer.Errorf(coffer.ENOTFOUND, "not found"))
		return
	}
	pw, err := s.readPassword(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	nb, tb, rec, col := r.PathValue("notebook"), r.PathValue("table"), r.PathValue("record"), r.PathValue("column")
	if err := s.secretTries.take(map[string]int{
		"verify:cell:" + nb + "/" + tb + "/" + rec + "/" + col: verifyPerCell,
		"verify:ip:" + s.clientIP(r):                           verifyPerIP,
	}); err != nil {
		s.writeError(w, r, err)
		return
	}
	ok, err := s.svc.Secrets.VerifyCellPassword(r.Context(), nb, tb, rec, col, pw)
	s.reply(w, r, http.StatusOK, map[string]bool{"match": ok}, err)
}

// withColumnKeys puts the request's X-Coffer-Column-Key passwords and the
// server's unlocks into the context.
func (s *Server) withColumnKeys(r *http.Request) (*http.Request, error) {
	pws, err := colkey.ParseHeader(r.Header.Values(colkey.HeaderName))
	if err != nil {
		return nil, err
	}
	return r.WithContext(colkey.WithRequest(r.Context(), pws, s.unlocks)), nil
}
