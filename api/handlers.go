package api

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/cofferhq/coffer"
)

// SessionCookie is the name of the session cookie set at login.
const SessionCookie = "__Host-coffer_session"

// DeviceCookie holds the device token of a browser that has signed in
// before; API clients send the token in the DeviceHeader instead.
const (
	DeviceCookie = "__Host-coffer_device"
	DeviceHeader = "Coffer-Device"
)

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.Auth.Logout(r.Context()); err != nil {
		s.writeError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	c := coffer.CallerFrom(r.Context())
	me := map[string]any{"id": c.UserID, "email": c.Email, "name": c.Name, "operator": c.Operator, "mfa": c.MFA}
	if c.Restriction != "" {
		me["restriction"] = c.Restriction
	}
	if c.APIKeyID != "" {
		me["api_key"] = map[string]any{"id": c.APIKeyID, "read_only": c.ReadOnly, "notebooks": c.Notebooks}
	}
	writeJSON(w, http.StatusOK, me)
}

// Notebooks.

func (s *Server) createNotebook(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	nb, err := s.svc.Notebooks.CreateNotebook(r.Context(), in.Name)
	s.reply(w, r, http.StatusCreated, nb, err)
}

func (s *Server) listNotebooks(w http.ResponseWriter, r *http.Request) {
	nbs, err := s.svc.Notebooks.FindNotebooks(r.Context())
	s.reply(w, r, http.StatusOK, map[string]any{"notebooks": nbs}, err)
}

func (s *Server) getNotebook(w http.ResponseWriter, r *http.Request) {
	nb, err := s.svc.Notebooks.FindNotebook(r.Context(), r.PathValue("notebook"))
	s.reply(w, r, http.StatusOK, nb, err)
}

func (s *Server) updateNotebook(w http.ResponseWriter, r *http.Request) {
	var in coffer.NotebookUpdate
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	nb, err := s.svc.Notebooks.UpdateNotebook(r.Context(), r.PathValue("notebook"), in)
	s.reply(w, r, http.StatusOK, nb, err)
}

func (s *Server) deleteNotebook(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Notebooks.DeleteNotebook(r.Context(), r.PathValue("notebook")))
}

// Tables and columns.

func (s *Server) createTable(w http.ResponseWriter, r *http.Request) {
	var in coffer.TableInput
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.svc.Tables.CreateTable(r.Context(), r.PathValue("notebook"), in)
	s.reply(w, r, http.StatusCreated, t, err)
}

func (s *Server) listTables(w http.ResponseWriter, r *http.Request) {
	ts, err := s.svc.Tables.FindTables(r.Context(), r.PathValue("notebook"))
	s.reply(w, r, http.StatusOK, map[string]any{"tables": ts}, err)
}

func (s *Server) getTable(w http.ResponseWriter, r *http.Request) {
	t, err := s.svc.Tables.FindTable(r.Context(), r.PathValue("notebook"), r.PathValue("table"))
	s.reply(w, r, http.StatusOK, t, err)
}

func (s *Server) updateTable(w http.ResponseWriter, r *http.Request) {
	var in coffer.TableUpdate
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.svc.Tables.UpdateTable(r.Context(), r.PathValue("notebook"), r.PathValue("table"), in)
	s.reply(w, r, http.StatusOK, t, err)
}

func (s *Server) deleteTable(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Tables.DeleteTable(r.Context(), r.PathValue("notebook"), r.PathValue("table")))
}

func (s *Server) createColumn(w http.ResponseWriter, r *http.Request) {
	var in coffer.ColumnInput
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.svc.Tables.CreateColumn(r.Context(), r.PathValue("notebook"), r.PathValue("table"), in)
	s.reply(w, r, http.StatusCreated, c, err)
}

func (s *Server) updateColumn(w http.ResponseWriter, r *http.Request) {
	var in coffer.ColumnUpdate
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.svc.Tables.UpdateColumn(r.Context(), r.PathValue("notebook"), r.PathValue("table"), r.PathValue("column"), in)
	s.reply(w, r, http.StatusOK, c, err)
}

func (s *Server) deleteColumn(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Tables.DeleteColumn(r.Context(), r.PathValue("notebook"), r.PathValue("table"), r.PathValue("column")))
}

// Records.

// fieldsBody is the body of record create and update.
type fieldsBody struct {
	Fields  map[string]any `json:"fields"`
	Version int64          `json:"version"`
}

func (s *Server) createRecord(w http.ResponseWriter, r *http.Request) {
	var in fieldsBody
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.Version != 0 {
		s.writeError(w, r, coffer.Invalid("a new record has no version", coffer.FieldError{Field: "version", Message: "must not be given when creating"}))
		return
	}
	rec, err := s.svc.Records.CreateRecord(r.Context(), r.PathValue("notebook"), r.PathValue("table"), in.Fields)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	setETag(w, rec)
	writeRecord(w, http.StatusCreated, rec)
}

func setETag(w http.ResponseWriter, rec *coffer.Record) {
	w.Header().Set("ETag", `"`+strconv.FormatInt(rec.Version, 10)+`"`)
}

// ifMatch reads the expected version from If-Match ("3", `"3"` or `W/"3"`)
// and reconciles it with a version given in the body.
func ifMatch(r *http.Request, body int64) (int64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		if body < 0 {
			return 0, coffer.Invalid("the version is not valid", coffer.FieldError{Field: "version", Message: "must be a positive integer"})
		}
		return body, nil
	}
	h = strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
	v, err := strconv.ParseInt(h, 10, 64)
	if err != nil || v <= 0 {
		return 0, coffer.Invalid("the If-Match header is not valid", coffer.FieldError{Field: "If-Match", Message: "must be a record version, e.g. \"3\""})
	}
	if body != 0 && body != v {
		return 0, coffer.Invalid("If-Match and version disagree", coffer.FieldError{Field: "version", Message: "differs from the If-Match header"})
	}
	return v, nil
}

func (s *Server) getRecord(w http.ResponseWriter, r *http.Request) {
	if at, err := asOfParam(r); err != nil || at != nil {
		if err != nil {
			s.writeError(w, r, err)
		} else {
			s.getRecordAsOf(w, r, at) // timetravel.go
		}
		return
	}
	rec, err := s.svc.Records.FindRecord(r.Context(), r.PathValue("notebook"), r.PathValue("table"), r.PathValue("record"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	setETag(w, rec)
	writeRecord(w, http.StatusOK, rec)
}

func (s *Server) updateRecord(w http.ResponseWriter, r *http.Request) {
	var in fieldsBody
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	version, err := ifMatch(r, in.Version)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rec, err := s.svc.Records.UpdateRecord(r.Context(), r.PathValue("notebook"), r.PathValue("table"), r.PathValue("record"), in.Fields, version)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	setETag(w, rec)
	writeRecord(w, http.StatusOK, rec)
}

func (s *Server) deleteRecord(w http.ResponseWriter, r *http.Request) {
	version, err := ifMatch(r, 0)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.replyEmpty(w, r, s.svc.Records.DeleteRecord(r.Context(), r.PathValue("notebook"), r.PathValue("table"), r.PathValue("record"), version))
}

func (s *Server) batchRecords(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Operations []coffer.BatchOp `json:"operations"`
	}
	if err := s.decode(w, r, &in, s.cfg.MaxBatchBodyBytes); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.svc.Records.Batch(r.Context(), r.PathValue("notebook"), r.PathValue("table"), in.Operations)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// A delete's result is the id alone.
	results := make([]any, len(res.Results))
	for i, rec := range res.Results {
		if in.Operations[i].Op == coffer.OpDelete {
			results[i] = map[string]any{"id": rec.ID}
		} else {
			results[i] = rec
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
}

// listQueryParams are the query parameters of a record list.
var listQueryParams = map[string]bool{"filter": true, "sort": true, "limit": true, "cursor": true, "fields": true, "count": true, "view": true, "as_of": true}

func (s *Server) listRecords(w http.ResponseWriter, r *http.Request) {
	qv, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.writeError(w, r, coffer.Invalid("the query string is not valid", coffer.FieldError{Field: "query", Message: "is not valid URL encoding"}))
		return
	}
	var errs []coffer.FieldError
	for _, k := range slices.Sorted(maps.Keys(qv)) {
		vs := qv[k]
		switch {
		case !listQueryParams[k]:
			errs = append(errs, coffer.FieldError{Field: k, Message: "is not a query parameter of this list"})
		case len(vs) > 1 && k != "fields":
			errs = append(errs, coffer.FieldError{Field: k, Message: "must be given once"})
		}
	}
	q := coffer.ListQuery{Filter: qv.Get("filter"), Sort: qv.Get("sort"), Cursor: qv.Get("cursor"), View: qv.Get("view")}
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
	if v := qv.Get("count"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, coffer.FieldError{Field: "count", Message: "must be true or false"})
		}
		q.Count = b
	}
	if vs, ok := qv["fields"]; ok {
		q.Fields = []string{}
		for _, v := range vs {
			for _, f := range strings.Split(v, ",") {
				if f = strings.TrimSpace(f); f != "" {
					q.Fields = append(q.Fields, f)
				}
			}
		}
	}
	if v, ok := qv["as_of"]; ok && len(v) == 1 {
		at, err := coffer.ParseAsOf("as_of", v[0])
		errs = append(errs, coffer.ErrorFields(err)...)
		q.AsOf = at
	}
	if len(errs) > 0 {
		s.writeError(w, r, coffer.Invalid("the list query is not valid", errs...))
		return
	}
	list, err := s.svc.Records.FindRecords(r.Context(), r.PathValue("notebook"), r.PathValue("table"), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list.AsOf != nil {
		writeJSON(w, http.StatusOK, list) // with the moment shown (timetravel.go)
		return
	}
	writeRecordList(w, list)
}

// Views.

func (s *Server) createView(w http.ResponseWriter, r *http.Request) {
	var in coffer.ViewInput
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.svc.Views.CreateView(r.Context(), r.PathValue("notebook"), r.PathValue("table"), in)
	s.reply(w, r, http.StatusCreated, v, err)
}

func (s *Server) listViews(w http.ResponseWriter, r *http.Request) {
	vs, err := s.svc.Views.FindViews(r.Context(), r.PathValue("notebook"), r.PathValue("table"))
	s.reply(w, r, http.StatusOK, map[string]any{"views": vs}, err)
}

func (s *Server) getView(w http.ResponseWriter, r *http.Request) {
	v, err := s.svc.Views.FindView(r.Context(), r.PathValue("notebook"), r.PathValue("table"), r.PathValue("view"))
	s.reply(w, r, http.StatusOK, v, err)
}

func (s *Server) updateView(w http.ResponseWriter, r *http.Request) {
	var in coffer.ViewUpdate
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.svc.Views.UpdateView(r.Context(), r.PathValue("notebook"), r.PathValue("table"), r.PathValue("view"), in)
	s.reply(w, r, http.StatusOK, v, err)
}

func (s *Server) deleteView(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Views.DeleteView(r.Context(), r.PathValue("notebook"), r.PathValue("table"), r.PathValue("view")))
}

// reply sends v with status, or err as a problem.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

// replyEmpty sends 204, or err as a problem.
func (s *Server) replyEmpty(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
