package api

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/accesslog"
)

// accessParams are the query parameters of the access record lists.
var accessParams = map[string]bool{"kind": true, "user": true, "table": true, "record": true, "since": true, "until": true, "limit": true, "cursor": true}

// accessQuery reads an access record query; allowed names the parameters
// the endpoint takes (besides accessParams' own, extra ones such as format).
func accessQuery(r *http.Request, allowed map[string]bool, extra ...string) (coffer.AccessQuery, url.Values, error) {
	var q coffer.AccessQuery
	qv, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return q, nil, coffer.Invalid("the query string is not valid", coffer.FieldError{Field: "query", Message: "is not valid URL encoding"})
	}
	errs := checkParams(qv, func(k string) bool { return allowed[k] || slices.Contains(extra, k) }, "is not a query parameter of this list")
	q = coffer.AccessQuery{Kind: qv.Get("kind"), User: qv.Get("user"), Table: qv.Get("table"), Record: qv.Get("record"), Cursor: qv.Get("cursor")}
	errs = append(errs, timeWindow(qv, &q.Since, &q.Until)...)
	if v := qv.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, coffer.FieldError{Field: "limit", Message: "must be an integer"})
		}
		q.Limit = n
		if err == nil && n == 0 {
			q.Limit = -1 // explicit 0 is out of range, not "default"
		}
	}
	if len(errs) > 0 {
		return q, nil, coffer.Invalid("the access record query is not valid", errs...)
	}
	return q, qv, nil
}

func (s *Server) listAccess(w http.ResponseWriter, r *http.Request) {
	q, _, err := accessQuery(r, accessParams)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.svc.AccessLog.FindAccess(r.Context(), r.PathValue("notebook"), q)
	s.reply(w, r, http.StatusOK, list, err)
}

func (s *Server) listReaders(w http.ResponseWriter, r *http.Request) {
	q, _, err := accessQuery(r, map[string]bool{"user": true, "since": true, "until": true, "limit": true, "cursor": true})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.svc.AccessLog.FindReaders(r.Context(), r.PathValue("notebook"), r.PathValue("table"), r.PathValue("record"), q)
	s.reply(w, r, http.StatusOK, list, err)
}

// exportAccess sends the access records that the filters select as CSV
// (format=csv, the default and only format), newest first.
func (s *Server) exportAccess(w http.ResponseWriter, r *http.Request) {
	q, qv, err := accessQuery(r, accessParams, "format")
	if err == nil && qv.Get("format") != "" && qv.Get("format") != "csv" {
		err = coffer.Invalid("the export is not valid", coffer.FieldError{Field: "format", Message: "must be csv"})
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q.Limit = coffer.MaxPageSize
	nb := r.PathValue("notebook")
	list, err := s.svc.AccessLog.FindAccess(r.Context(), nb, q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="access-log.csv"`)
	w.WriteHeader(http.StatusOK)
	cw, err := accesslog.NewCSV(w)
	for err == nil {
		if err = accesslog.WriteCSV(cw, list.Entries); err != nil || list.NextCursor == nil {
			break
		}
		q.Cursor = *list.NextCursor
		list, err = s.svc.AccessLog.FindAccess(r.Context(), nb, q)
	}
	if err != nil {
		// The status is sent: the truncated file ends without its last
		// line, and the log says why.
		s.log.Warn("access record export cut short", "request_id", requestID(r.Context()), "error", err.Error())
	}
}
