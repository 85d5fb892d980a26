package api

import (
	"net/http"
	"net/url"
	"strconv"

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
	errs := checkParams(qv, func(k string) bool { return auditParams[k] }, "is not a query parameter of this list")
	f := coffer.AuditFilter{Kind: qv.Get("kind"), Actor: qv.Get("actor"), Cursor: qv.Get("cursor")}
	if v := qv.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n == 0 {
			errs = append(errs, coffer.FieldError{Field: "limit", Message: "must be a whole number from 1 to 500"})
		}
		f.Limit = n
	}
	errs = append(errs, timeWindow(qv, &f.Since, &f.Until)...)
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
