package api

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/cofferhq/coffer"
)

// Backups: the snapshots of a notebook, reading a snapshot with
// ?snapshot=<id> on the notebook, table, view and record reads, comparing
// a snapshot with today, and restoring from it (coffer.BackupService).

func init() {
	statusOf[coffer.ESNAPSHOTRO] = http.StatusConflict
	statusOf[coffer.ESNAPSHOTUNREADABLE] = http.StatusGone
}

// Paths of the notebook routes that read a snapshot with ?snapshot=.
const (
	nbPath = "/api/v1/notebooks/{notebook}"
	tbPath = nbPath + "/tables/{table}"
)

// browsable are the routes whose GET reads a snapshot with ?snapshot=.
var browsable = map[string]bool{
	nbPath:                           true,
	nbPath + "/tables":               true,
	tbPath:                           true,
	tbPath + "/records":              true,
	tbPath + "/records/{record}":     true,
	tbPath + "/views":                true,
	tbPath + "/views/{view}":         true,
	nbPath + "/snapshots":            false, // these take no snapshot parameter of this kind
	nbPath + "/snapshots/{snapshot}": false,
}

// snapshotAware are the routes that read ?snapshot= themselves.
var snapshotAware = map[string]bool{
	tbPath + "/compare":                  true,
	tbPath + "/records/{record}/compare": true,
}

// snapshotRead handles ?snapshot= on the notebook routes: a write is
// refused (ESNAPSHOTRO), a read of a browsable route runs under the
// snapshot's context (the parameter then taken out of the query), other
// routes refuse the parameter. It returns the request to serve and the
// release of the snapshot, or false when it answered itself.
func (s *Server) snapshotRead(w http.ResponseWriter, r *http.Request, pattern string) (*http.Request, func(), bool) {
	if snapshotAware[pattern] {
		return r, func() {}, true
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return r, func() {}, true // the handler refuses it
	}
	vs, ok := q["snapshot"]
	if !ok {
		return r, func() {}, true
	}
	// Every route, the notebook's or not (files): a write that names a
	// snapshot would otherwise change today's data.
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.writeError(w, r, coffer.Errorf(coffer.ESNAPSHOTRO, "a snapshot is read-only: restore from it instead"))
		return nil, nil, false
	}
	switch {
	case !browsable[pattern]:
		s.writeError(w, r, coffer.Invalid("the query is not valid", coffer.FieldError{Field: "snapshot", Message: "is not a query parameter of this path"}))
		return nil, nil, false
	case len(vs) != 1:
		s.writeError(w, r, coffer.Invalid("the query is not valid", coffer.FieldError{Field: "snapshot", Message: "must be given once"}))
		return nil, nil, false
	case q.Has("as_of"):
		s.writeError(w, r, coffer.Invalid("the query is not valid", coffer.FieldError{Field: "as_of", Message: "cannot be used with snapshot"}))
		return nil, nil, false
	case s.svc.Backups == nil:
		s.writeError(w, r, coffer.Errorf(coffer.ENOTFOUND, "snapshot not found"))
		return nil, nil, false
	}
	ctx, release, err := s.svc.Backups.BrowseSnapshot(r.Context(), r.PathValue("notebook"), vs[0])
	if err != nil {
		s.writeError(w, r, err)
		return nil, nil, false
	}
	q.Del("snapshot")
	r2 := r.WithContext(ctx)
	u := *r.URL
	u.RawQuery = q.Encode()
	r2.URL = &u
	w.Header().Set("X-Coffer-Snapshot", vs[0])
	return r2, release, true
}

// backups returns the service, or answers not_found when backups are off.
func (s *Server) backups(w http.ResponseWriter, r *http.Request) (coffer.BackupService, bool) {
	if s.svc.Backups == nil {
		s.writeError(w, r, coffer.Errorf(coffer.ENOTFOUND, "snapshot not found"))
		return nil, false
	}
	return s.svc.Backups, true
}

// onlyParams refuses query parameters other than allowed, and repeats.
func onlyParams(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, coffer.Invalid("the query string is not valid", coffer.FieldError{Field: "query", Message: "is not valid URL encoding"})
	}
	var errs []coffer.FieldError
	for k, vs := range q {
		known := false
		for _, a := range allowed {
			known = known || a == k
		}
		switch {
		case !known:
			errs = append(errs, coffer.FieldError{Field: k, Message: "is not a query parameter of this path"})
		case len(vs) > 1:
			errs = append(errs, coffer.FieldError{Field: k, Message: "must be given once"})
		}
	}
	if len(errs) > 0 {
		return nil, coffer.Invalid("the query is not valid", errs...)
	}
	return q, nil
}

func (s *Server) listSnapshots(w http.ResponseWriter, r *http.Request) {
	b, ok := s.backups(w, r)
	if !ok {
		return
	}
	q, err := onlyParams(r, "group")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := b.FindSnapshots(r.Context(), r.PathValue("notebook"), coffer.SnapshotQuery{Group: q.Get("group")})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"snapshots": list})
}

func (s *Server) getSnapshot(w http.ResponseWriter, r *http.Request) {
	b, ok := s.backups(w, r)
	if !ok {
		return
	}
	if _, err := onlyParams(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	sn, err := b.FindSnapshot(r.Context(), r.PathValue("notebook"), r.PathValue("snapshot"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sn)
}

// snapshotParam reads the required snapshot parameter of a compare.
func snapshotParam(q url.Values) (string, error) {
	id := q.Get("snapshot")
	if id == "" {
		return "", coffer.Invalid("the query is not valid", coffer.FieldError{Field: "snapshot", Message: "is required"})
	}
	return id, nil
}

func (s *Server) compareTable(w http.ResponseWriter, r *http.Request) {
	b, ok := s.backups(w, r)
	if !ok {
		return
	}
	q, err := onlyParams(r, "snapshot", "cursor", "limit")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := snapshotParam(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit := 0
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit <= 0 {
			s.writeError(w, r, coffer.Invalid("the query is not valid", coffer.FieldError{Field: "limit", Message: "must be a positive integer"}))
			return
		}
	}
	out, err := b.CompareTable(r.Context(), r.PathValue("notebook"), r.PathValue("table"), id, q.Get("cursor"), limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) compareRecord(w http.ResponseWriter, r *http.Request) {
	b, ok := s.backups(w, r)
	if !ok {
		return
	}
	q, err := onlyParams(r, "snapshot")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := snapshotParam(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := b.CompareRecord(r.Context(), r.PathValue("notebook"), r.PathValue("table"), r.PathValue("record"), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) restore(w http.ResponseWriter, r *http.Request) {
	b, ok := s.backups(w, r)
	if !ok {
		return
	}
	var in coffer.RestoreInput
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	job, err := b.Restore(r.Context(), r.PathValue("notebook"), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if job.Status == "running" {
		status = http.StatusAccepted
		w.Header().Set("Location", "/api/v1/restores/"+job.ID)
	}
	writeJSON(w, status, job)
}

func (s *Server) getRestore(w http.ResponseWriter, r *http.Request) {
	b, ok := s.backups(w, r)
	if !ok {
		return
	}
	job, err := b.FindRestore(r.Context(), r.PathValue("restore"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, job)
}
