package notebooks

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// ExportHistory writes the history of a table or a record as CSV or JSON
// (see coffer.HistoryService). The whole export is built before anything
// is written, so a failure writes nothing.
func (s *Service) ExportHistory(ctx context.Context, notebook string, q coffer.HistoryQuery, format string, w io.Writer) error {
	if format != coffer.HistoryCSV && format != coffer.HistoryJSON {
		return coffer.Invalid("the export is not valid", coffer.FieldError{Field: "format", Message: "must be csv or json"})
	}
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return s.Wrap("ExportHistory", err)
	}
	defer nc.Release()
	if q.Table == "" {
		return coffer.Invalid("the export is not valid", coffer.FieldError{Field: "table", Message: "is required: the history of a table or of a record is exported"})
	}
	q.Cursor, q.Limit = "", 0
	var entries []*coffer.HistoryEntry
	err = s.readFresh(ctx, nc, func(sc *catalog.Schema, rq catalog.Querier) error {
		hv, f, err := s.historyScope(ctx, nc, sc, rq, q)
		if err != nil {
			return err
		}
		entries = entries[:0]
		hv.maxChanges = 0 // an export holds every change
		for {
			page, err := hv.page(ctx, f, coffer.MaxHistoryLimit, false)
			if err != nil {
				return err
			}
			entries = append(entries, page.Entries...)
			if page.NextCursor == nil {
				return nil
			}
			f.Before, _ = strconv.ParseInt(*page.NextCursor, 10, 64)
		}
	})
	if err != nil {
		return s.WrapNotFound("ExportHistory", err)
	}
	var buf bytes.Buffer
	if format == coffer.HistoryJSON {
		if entries == nil {
			entries = []*coffer.HistoryEntry{}
		}
		err = json.NewEncoder(&buf).Encode(entries)
	} else {
		err = writeHistoryCSV(&buf, entries)
	}
	if err != nil {
		return s.Wrap("ExportHistory", err)
	}
	if err := s.auditExport(ctx, notebook, q, format, len(entries)); err != nil {
		return err
	}
	var recs []string
	if q.Record != "" {
		recs = append(recs, q.Record)
	}
	s.NoteExport(ctx, notebook, q.Table, "history as "+format, recs...)
	_, err = w.Write(buf.Bytes())
	return err
}

// auditExport records an export of history in the audit log.
func (s *Service) auditExport(ctx context.Context, notebook string, q coffer.HistoryQuery, format string, n int) error {
	c, err := store.Caller(ctx)
	if err != nil {
		return err
	}
	what := "table " + q.Table
	if q.Record != "" {
		what = "record " + q.Record + " of " + what
	}
	detail := fmt.Sprintf("history of %s of notebook %s as %s, %d entries", what, notebook, format, n)
	return s.Write(ctx, s.Inst, "ExportHistory", func(tx *store.WriteTx) error {
		return s.Event(ctx, tx, coffer.EventHistoryExported, c.UserID, c.Email, detail)
	})
}

// historyCSVHeader names the columns of a CSV export: one row per change.
var historyCSVHeader = []string{"seq", "at", "actor", "api_key", "ip", "user_agent", "kind", "summary", "table", "record", "column", "column_id", "old", "new"}

// writeHistoryCSV writes entries as CSV, one row per change. Text that a
// spreadsheet would run as a formula is quoted with a leading apostrophe;
// old and new are JSON texts (a string starts with a double quote).
func writeHistoryCSV(w io.Writer, entries []*coffer.HistoryEntry) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(historyCSVHeader); err != nil {
		return err
	}
	for _, e := range entries {
		for _, c := range e.Changes {
			row := []string{strconv.FormatInt(e.Seq, 10), e.At.Format(time.RFC3339Nano)}
			for _, t := range []string{e.Actor, e.APIKey, e.IP, e.UserAgent, e.Kind, e.Summary, c.Table, c.Record, c.Column, c.ColumnID} {
				row = append(row, csvText(t))
			}
			row = append(row, jsonText(c.Old), jsonText(c.New))
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvText defuses text a spreadsheet would take for a formula.
func csvText(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}

// jsonText is a value's JSON text; empty for an empty cell.
func jsonText(v json.RawMessage) string {
	if v == nil {
		return ""
	}
	return string(v)
}
