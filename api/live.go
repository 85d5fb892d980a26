package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/live"
)

// LiveService gives the events of committed record writes.
type LiveService interface {
	// Subscribe starts receiving the events of a table (notebook and table ids).
	Subscribe(ctx context.Context, notebook, table string) (*live.Subscription, error)
	// SeesAllRows reports whether the caller sees every row of the table.
	SeesAllRows(ctx context.Context, notebook, table string) (bool, error)
	// Noticeable reports whether the caller can notice an update: false
	// when it is confined to cells hidden from them.
	Noticeable(ctx context.Context, notebook, table string, e live.Event) (bool, error)
}

// Timing of live-update streams (variables for tests).
var (
	liveHeartbeat     = 15 * time.Second
	liveWriteDeadline = 30 * time.Second
)

// sameOrigin reports whether an Origin header names this server: the
// request's own host, or the configured public URL.
func (s *Server) sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	if s.cfg.PublicURL != "" {
		if p, err := url.Parse(s.cfg.PublicURL); err == nil && strings.EqualFold(p.Scheme, u.Scheme) && strings.EqualFold(p.Host, u.Host) {
			return true
		}
	}
	return false
}

// recordEvents streams the committed changes of a table's records as
// server-sent events. Every event is checked again when it is sent, as the
// caller, with the caller's key authenticated again: records come as the
// caller reads them (hidden columns absent, masked cells null), records
// the caller cannot see are not mentioned, updates confined to cells
// hidden from the caller are not sent, deletes go only to callers who
// see every row, and a session that ended or a table no longer visible
// ends the stream ("event: end").
func (s *Server) recordEvents(w http.ResponseWriter, r *http.Request) {
	key, ctx, t, ok := s.liveTable(w, r)
	if !ok {
		return
	}
	done, err := s.takeStream(coffer.CallerFrom(ctx).UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer done()
	base := streamContext(r)
	sub, err := s.svc.Live.Subscribe(base, t.NotebookID, t.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer sub.Close()
	st := &liveStream{s: s, w: w, rc: http.NewResponseController(w), base: base, key: key, t: t, sub: sub}
	if st.start() {
		st.run()
	}
}

// liveTable checks a request for a live-update stream: a same-origin (or
// origin-less) request by an authenticated caller, on a server with live
// updates, for a table the caller sees. It returns the caller's key,
// context and table, or writes the problem and reports false.
func (s *Server) liveTable(w http.ResponseWriter, r *http.Request) (key string, ctx context.Context, t *coffer.Table, ok bool) {
	if o := r.Header.Get("Origin"); o != "" && !s.sameOrigin(r, o) {
		s.writeProblem(w, r, coffer.EFORBIDDEN, "cross-origin request refused", nil)
		return "", nil, nil, false
	}
	key, err := sessionKey(r)
	if err != nil {
		s.writeError(w, r, err)
		return "", nil, nil, false
	}
	ctx, err = s.authenticate(r)
	if err == nil {
		err = allowed(coffer.CallerFrom(ctx), r, endpoint{})
	}
	if err != nil {
		s.writeError(w, r, err)
		return "", nil, nil, false
	}
	if s.svc.Live == nil {
		s.writeProblem(w, r, coffer.ENOTFOUND, "live updates are not available", nil)
		return "", nil, nil, false
	}
	t, err = s.svc.Tables.FindTable(ctx, r.PathValue("notebook"), r.PathValue("table"))
	if err != nil {
		s.writeError(w, r, err)
		return "", nil, nil, false
	}
	return key, ctx, t, true
}

// streamContext returns the context a stream runs on: the request's
// context without its deadline, as the stream outlives it (still
// cancelled when the client goes away).
func streamContext(r *http.Request) context.Context {
	base := r.Context()
	if ri := info(base); ri != nil && ri.base != nil {
		base = ri.base
	}
	return base
}

// liveStream is one open live-update stream: the caller's key, the
// table, its subscription, and the response the events are written to.
type liveStream struct {
	s    *Server
	w    http.ResponseWriter
	rc   *http.ResponseController
	base context.Context
	key  string
	t    *coffer.Table
	sub  *live.Subscription
}

// start writes the headers of an event stream and its opening comment.
// It reports false when the client cannot be written to.
func (st *liveStream) start() bool {
	h := st.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	st.w.WriteHeader(http.StatusOK)
	return st.send(": live updates of table " + st.t.ID + "\n\n")
}

// run sends the subscription's events, and a heartbeat when idle, until
// the client goes away, a write fails, or the stream ends (the server
// stops, the subscription is dropped, an event says so).
func (st *liveStream) run() {
	heartbeat := time.NewTicker(liveHeartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-st.base.Done():
			return
		case <-st.s.stopping:
			st.end("the server is shutting down")
			return
		case <-heartbeat.C:
			if !st.send(": heartbeat\n\n") {
				return
			}
		case <-st.sub.Dropped():
			st.end(st.sub.Reason())
			return
		case e := <-st.sub.Events():
			frame, reason := st.s.liveFrame(st.base, st.key, st.t, e)
			if reason != "" {
				st.end(reason)
				return
			}
			if frame != "" && !st.send(frame) {
				return
			}
		}
	}
}

// send writes a frame and flushes it, within liveWriteDeadline. It
// reports false when the client cannot be written to.
func (st *liveStream) send(frame string) bool {
	st.rc.SetWriteDeadline(time.Now().Add(liveWriteDeadline))
	if _, err := fmt.Fprint(st.w, frame); err != nil {
		return false
	}
	return st.rc.Flush() == nil
}

// end sends the "end" event with its reason.
func (st *liveStream) end(reason string) {
	st.send("event: end\ndata: " + string(jsonString(reason)) + "\n\n")
}

// takeStream counts one more live-update stream of a user, or refuses it
// with ESTREAMS when they hold MaxStreamsPerUser already (each stream
// holds a connection and is checked again at every event). done gives
// the place back.
func (s *Server) takeStream(user string) (done func(), err error) {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if s.streams[user] >= s.cfg.MaxStreamsPerUser {
		return nil, coffer.Errorf(coffer.ESTREAMS, "you already have %d live-update streams open: close one before opening another", s.cfg.MaxStreamsPerUser)
	}
	s.streams[user]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.streamsMu.Lock()
			if s.streams[user]--; s.streams[user] <= 0 {
				delete(s.streams, user)
			}
			s.streamsMu.Unlock()
		})
	}, nil
}

// liveFrame decides what the caller behind key is told of e, checking
// everything again: the key, the table's visibility, the record as the
// caller reads it. It returns the frame ("" for nothing) or, when the
// stream must end, the reason. It holds no transaction or notebook
// between events.
func (s *Server) liveFrame(base context.Context, key string, t *coffer.Table, e live.Event) (frame, reason string) {
	ctx, cancel := context.WithTimeout(base, s.cfg.RequestTimeout)
	defer cancel()
	c, err := s.svc.Auth.Authenticate(ctx, key)
	if err != nil {
		if coffer.ErrorCode(err) == coffer.EUNAUTHORIZED {
			return "", "the session has ended"
		}
		return "", "the server cannot check access right now"
	}
	if c.Restriction != "" {
		return "", "the session is restricted"
	}
	ctx = coffer.WithCaller(ctx, c)
	if _, err := s.svc.Tables.FindTable(ctx, t.NotebookID, t.ID); err != nil {
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return "", "the table is no longer visible to you"
		}
		return "", "the server cannot check access right now"
	}
	switch e.Op {
	case live.OpCreate, live.OpUpdate:
		// A change confined to cells hidden from the caller: not a word.
		if seen, err := s.svc.Live.Noticeable(ctx, t.NotebookID, t.ID, e); err != nil {
			if coffer.ErrorCode(err) == coffer.ENOTFOUND {
				return "", "the table is no longer visible to you"
			}
			return "", "the server cannot check access right now"
		} else if !seen {
			return "", ""
		}
		rec, err := s.svc.Records.FindRecord(ctx, t.NotebookID, t.ID, e.Record)
		if err != nil {
			if coffer.ErrorCode(err) == coffer.ENOTFOUND {
				return "", "" // not visible to the caller, or gone since
			}
			return "", "the server cannot check access right now"
		}
		b, err := rec.MarshalJSON()
		if err != nil {
			return "", "the server cannot encode a record"
		}
		return "event: " + e.Op + "\ndata: " + string(b) + "\n\n", ""
	case live.OpDelete:
		all, err := s.svc.Live.SeesAllRows(ctx, t.NotebookID, t.ID)
		if err != nil {
			if coffer.ErrorCode(err) == coffer.ENOTFOUND {
				return "", "the table is no longer visible to you"
			}
			return "", "the server cannot check access right now"
		}
		if !all {
			return "", ""
		}
		return "event: delete\ndata: {\"id\":" + string(jsonString(e.Record)) + "}\n\n", ""
	}
	return "", ""
}

// jsonString quotes s as a JSON string.
func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}
