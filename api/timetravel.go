package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/cofferhq/coffer"
)

// Time travel: ?as_of= on record get and list (handlers.go hands those
// over here), and the revert endpoints.

func init() {
	// A moment the history no longer reaches, or a table too large to
	// rebuild, is a request the server understood but cannot serve.
	statusOf[coffer.EHISTORY] = http.StatusUnprocessableEntity
	statusOf[coffer.EASOFTOOLARGE] = http.StatusUnprocessableEntity
}

// asOfParam reads the as_of query parameter (nil when absent).
func asOfParam(r *http.Request) (*coffer.AsOf, error) {
	q := r.URL.Query()
	vs, ok := q["as_of"]
	if !ok {
		return nil, nil
	}
	if len(vs) > 1 {
		return nil, coffer.Invalid("the query is not valid", coffer.FieldError{Field: "as_of", Message: "must be given once"})
	}
	return coffer.ParseAsOf("as_of", vs[0])
}

// getRecordAsOf answers GET …/records/{record}?as_of=…: the record as it
// was, without an ETag (its version is not one a write may name).
func (s *Server) getRecordAsOf(w http.ResponseWriter, r *http.Request, at *coffer.AsOf) {
	if s.svc.TimeTravel == nil {
		s.writeError(w, r, coffer.Errorf(coffer.ENOTFOUND, "time travel is not available"))
		return
	}
	rec, err := s.svc.TimeTravel.FindRecordAsOf(r.Context(), r.PathValue("notebook"), r.PathValue("table"), r.PathValue("record"), at)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeRecord(w, http.StatusOK, rec)
}

// revertBody is the body of the revert endpoints: "to" is an RFC 3339
// time or a history sequence number (a JSON string or number).
type revertBody struct {
	To      json.RawMessage `json:"to"`
	Columns []string        `json:"columns"`
}

func (b revertBody) input() (coffer.RevertInput, error) {
	raw := strings.TrimSpace(string(b.To))
	if raw == "" || raw == "null" {
		return coffer.RevertInput{}, coffer.Invalid("the moment is missing", coffer.FieldError{Field: "to", Message: "is required"})
	}
	var text string
	if strings.HasPrefix(raw, `"`) {
		if err := json.Unmarshal(b.To, &text); err != nil {
			return coffer.RevertInput{}, coffer.Invalid("the moment is not valid", coffer.FieldError{Field: "to", Message: "must be a string or a number"})
		}
	} else {
		text = raw
	}
	at, err := coffer.ParseAsOf("to", text)
	if err != nil {
		return coffer.RevertInput{}, err
	}
	return coffer.RevertInput{To: at, Columns: b.Columns}, nil
}

func (s *Server) revert(w http.ResponseWriter, r *http.Request, record string) {
	var body revertBody
	if err := s.decode(w, r, &body, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := body.input()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.svc.TimeTravel == nil {
		s.writeError(w, r, coffer.Errorf(coffer.ENOTFOUND, "time travel is not available"))
		return
	}
	var res *coffer.RevertResult
	if record == "" {
		res, err = s.svc.TimeTravel.RevertTable(r.Context(), r.PathValue("notebook"), r.PathValue("table"), in)
	} else {
		res, err = s.svc.TimeTravel.RevertRecord(r.Context(), r.PathValue("notebook"), r.PathValue("table"), record, in)
	}
	s.reply(w, r, http.StatusOK, res, err)
}

// revertRecord answers POST …/records/{record}/revert.
func (s *Server) revertRecord(w http.ResponseWriter, r *http.Request) {
	s.revert(w, r, r.PathValue("record"))
}

// revertTable answers POST …/tables/{table}/revert.
func (s *Server) revertTable(w http.ResponseWriter, r *http.Request) {
	s.revert(w, r, "")
}
