package api

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"

	"github.com/cofferhq/coffer"
)

// History, its export and size, and a notebook's settings.

// historyParams are the query parameters of each history endpoint.
var historyParams = map[string]map[string]bool{
	"notebook": {"table": true, "record": true, "column": true, "actor": true, "since": true, "until": true, "cursor": true, "limit": true},
	"record":   {"column": true, "actor": true, "since": true, "until": true, "cursor": true, "limit": true},
	"export":   {"format": true, "table": true, "record": true, "actor": true, "since": true, "until": true},
}

// historyQuery reads the query string of a history endpoint (kind names
// its parameters): unknown or repeated parameters and bad values are
// refused with their field.
func historyQuery(r *http.Request, kind string) (coffer.HistoryQuery, url.Values, error) {
	var q coffer.HistoryQuery
	qv, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return q, nil, coffer.Invalid("the query string is not valid", coffer.FieldError{Field: "query", Message: "is not valid URL encoding"})
	}
	errs := checkParams(qv, func(k string) bool { return historyParams[kind][k] }, "is not a query parameter of this endpoint")
	q.Table, q.Record, q.Column, q.Actor, q.Cursor = qv.Get("table"), qv.Get("record"), qv.Get("column"), qv.Get("actor"), qv.Get("cursor")
	errs = append(errs, timeWindow(qv, &q.Since, &q.Until)...)
	if v := qv.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			errs = append(errs, coffer.FieldError{Field: "limit", Message: "must be an integer"})
		case n == 0:
			q.Limit = -1 // an explicit 0 is out of range, not "default"
		default:
			q.Limit = n
		}
	}
	if len(errs) > 0 {
		return q, qv, coffer.Invalid("the history query is not valid", errs...)
	}
	return q, qv, nil
}

func (s *Server) notebookHistory(w http.ResponseWriter, r *http.Request) {
	q, _, err := historyQuery(r, "notebook")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.svc.History.FindHistory(r.Context(), r.PathValue("notebook"), q)
	s.reply(w, r, http.StatusOK, page, err)
}

func (s *Server) recordHistory(w http.ResponseWriter, r *http.Request) {
	q, _, err := historyQuery(r, "record")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q.Table, q.Record = r.PathValue("table"), r.PathValue("record")
	page, err := s.svc.History.FindHistory(r.Context(), r.PathValue("notebook"), q)
	s.reply(w, r, http.StatusOK, page, err)
}

func (s *Server) exportHistory(w http.ResponseWriter, r *http.Request) {
	q, qv, err := historyQuery(r, "export")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	format := qv.Get("format")
	if format == "" {
		format = coffer.HistoryCSV
	}
	var buf bytes.Buffer
	if err := s.svc.History.ExportHistory(r.Context(), r.PathValue("notebook"), q, format, &buf); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctype := "text/csv; charset=utf-8"
	if format == coffer.HistoryJSON {
		ctype = "application/json; charset=utf-8"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="history.`+format+`"`)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

func (s *Server) historySize(w http.ResponseWriter, r *http.Request) {
	size, err := s.svc.History.HistorySize(r.Context(), r.PathValue("notebook"))
	s.reply(w, r, http.StatusOK, size, err)
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request) {
	st, err := s.svc.History.NotebookSettings(r.Context(), r.PathValue("notebook"))
	s.reply(w, r, http.StatusOK, st, err)
}

func (s *Server) updateSettings(w http.ResponseWriter, r *http.Request) {
	var in coffer.NotebookSettingsUpdate
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.svc.History.UpdateNotebookSettings(r.Context(), r.PathValue("notebook"), in)
	s.reply(w, r, http.StatusOK, st, err)
}
