package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/cofferhq/coffer"
)

// Error codes that only the HTTP layer produces.
const (
	codeMethod    = "method_not_allowed"
	codeMediaType = "unsupported_media_type"
)

// Problem is an RFC 9457 problem document with Coffer's stable code.
type Problem struct {
	Type   string              `json:"type"`
	Title  string              `json:"title"`
	Status int                 `json:"status"`
	Detail string              `json:"detail"`
	Code   string              `json:"code"`
	Errors []coffer.FieldError `json:"errors,omitempty"`
	// Cells are the cells in conflict of a refused undo.
	Cells []coffer.CellRef `json:"cells,omitempty"`
}

// statusOf maps error codes to HTTP statuses.
var statusOf = map[string]int{
	coffer.EINVALID:           http.StatusBadRequest,
	coffer.ENOTFOUND:          http.StatusNotFound,
	coffer.ECONFLICT:          http.StatusConflict,
	coffer.EVERSION:           http.StatusConflict,
	coffer.ECONVERSION:        http.StatusUnprocessableEntity,
	coffer.ECONVERSIONBLOCKED: http.StatusUnprocessableEntity,
	coffer.EUNAUTHORIZED:      http.StatusUnauthorized,
	coffer.EFORBIDDEN:         http.StatusForbidden,
	coffer.ETOOLARGE:          http.StatusRequestEntityTooLarge,
	coffer.EUNAVAILABLE:       http.StatusServiceUnavailable,
	coffer.ETOOMANY:           http.StatusTooManyRequests,
	coffer.ERESTRICTED:        http.StatusForbidden,
	coffer.ESESSION:           http.StatusForbidden,
	coffer.ETOOCOMPLEX:        http.StatusBadRequest,
	coffer.ETIMEOUT:           http.StatusServiceUnavailable,
	coffer.ESTREAMS:           http.StatusTooManyRequests,
	coffer.ENOTHINGTOUNDO:     http.StatusConflict,
	coffer.ENOTHINGTOREDO:     http.StatusConflict,
	coffer.ESETUPTOKEN:        http.StatusForbidden,
	coffer.ESETUPDONE:         http.StatusConflict,
	coffer.ELOCKED:            http.StatusForbidden,
	coffer.EKEY:               http.StatusForbidden,
	coffer.EINTEGRITY:         http.StatusUnprocessableEntity,
	coffer.EFILEGONE:          http.StatusConflict,
	coffer.ERANGE:             http.StatusRequestedRangeNotSatisfiable,
	coffer.EINTERNAL:          http.StatusInternalServerError,
	codeMethod:                http.StatusMethodNotAllowed,
	codeMediaType:             http.StatusUnsupportedMediaType,
}

// writeProblem sends a problem document. Internal errors are logged with
// their cause and answered with a generic message.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, code, detail string, fields []coffer.FieldError) {
	s.writeProblemCells(w, r, code, detail, fields, nil)
}

// writeProblemCells is writeProblem with the cells in conflict of a
// refused undo.
func (s *Server) writeProblemCells(w http.ResponseWriter, r *http.Request, code, detail string, fields []coffer.FieldError, cells []coffer.CellRef) {
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	p := Problem{Type: "urn:coffer:problem:" + code, Title: http.StatusText(status), Status: status, Detail: detail, Code: code, Errors: fields, Cells: cells}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="coffer"`)
	}
	w.Header().Set("Content-Type", "application/problem+json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeError sends err as a problem document.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := coffer.ErrorCode(err)
	if code == coffer.EINTERNAL && r.Context().Err() != nil {
		// The client went away (or the request timed out) mid-request:
		// whatever broke on the way out is that, not a fault of ours. The
		// storage layers say so themselves; this catches the paths that
		// return a driver's error as it is.
		err = &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "the request was cancelled or timed out", Err: err}
		code = coffer.EUNAVAILABLE
	}
	if code == coffer.EINTERNAL {
		s.log.LogAttrs(r.Context(), slog.LevelError, "internal error",
			slog.String("request_id", requestID(r.Context())), slog.String("error", err.Error()))
	}
	var ce *coffer.Error
	if code == coffer.EUNAVAILABLE && errors.As(err, &ce) && ce.Err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "unavailable",
			slog.String("request_id", requestID(r.Context())), slog.String("error", ce.Err.Error()))
	}
	if secs := coffer.RetryAfter(err); secs > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	s.writeProblemCells(w, r, code, coffer.ErrorMessage(err), coffer.ErrorFields(err), coffer.ErrorCells(err))
}

// writeJSON sends v as JSON with the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeRecord sends a record, encoded directly by its MarshalJSON (which
// already produces compact, valid JSON: no second pass over the bytes).
func writeRecord(w http.ResponseWriter, status int, rec *coffer.Record) {
	b, err := rec.MarshalJSON()
	if err != nil {
		writeJSON(w, status, rec)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeRecordList sends a page of records, encoded like writeRecord.
func writeRecordList(w http.ResponseWriter, list *coffer.RecordList) {
	b := make([]byte, 0, 4096)
	b = append(b, `{"records":[`...)
	for i, rec := range list.Records {
		if i > 0 {
			b = append(b, ',')
		}
		rb, err := rec.MarshalJSON()
		if err != nil {
			writeJSON(w, http.StatusOK, list)
			return
		}
		b = append(b, rb...)
	}
	b = append(b, `],"next_cursor":`...)
	if list.NextCursor == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendQuote(b, *list.NextCursor) // base64url: plain ASCII
	}
	if list.Total != nil {
		b = append(b, `,"total":`...)
		b = strconv.AppendInt(b, *list.Total, 10)
	}
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}
