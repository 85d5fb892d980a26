package api

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/cofferhq/coffer"
)

// auditParams are the query parameters of the audit lists.
var auditParams = map[string]bool{"kind": true, "actor": true, "since": true, "until": true, "cursor": true, "limit": true}

// auditFilter reads the query string of an audit list.
func auditFilter(r *http.Request) (coffer.AuditFilter, error) {
	qv, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return coffer.AuditFilter{}, coffer.Invalid("the query string is not valid", coffer.FieldError{Field: "query", Message: "is not valid URL encoding"})
	}
	var errs []coffer.FieldError
	for _, k := range slices.Sorted(maps.Keys(qv)) {
		switch {
		case !auditParams[k]:
			errs = append(errs, coffer.FieldError{Field: k, Message: "is not a query parameter of this list"})
		case len(qv[k]) > 1:
			errs = append(errs, coffer.FieldError{Field: k, Message: "must be given once"})
		}
	}
	f := coffer.AuditFilter{Kind: qv.Get("kind"), Actor: qv.Get("actor"), Cursor: qv.Get("cursor")}
	if v := qv.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n == 0 {
			errs = append(errs, coffer.FieldError{Field: "limit", Message: "must be a whole number from 1 to 500"})
		}
		f.Limit = n
	}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := qv.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				errs = append(errs, coffer.FieldError{Field: p.name, Message: "must be a time in RFC 3339 form, such as 2025-01-31T00:00:00Z"})
			}
			*p.t = t
		}
	}
	if len(errs) > 0 {
		return f, coffer.Invalid("the audit log query is not valid", errs...)
	}
	return f, nil
}

func (s *Server) auditLog(w http.ResponseWriter, r *http.Request) {
	f, err := auditFilter(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.svc.Audit.AuditLog(r.Context(), f)
	s.reply(w, r, http.StatusOK, page, err)
}

func (s *Server) orgAuditLog(w http.ResponseWriter, r *http.Request) {
	f, err := auditFilter(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.svc.Audit.OrgAuditLog(r.Context(), r.PathValue("org"), f)
	s.reply(w, r, http.StatusOK, page, err)
}
