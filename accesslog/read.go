package accesslog

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
)

// Querier runs queries: a database, a transaction.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Filter selects stored access records; empty fields select everything.
type Filter struct {
	Kind, Actor, Table, Record string
	Since, Until               int64 // microseconds; 0 for none (Until exclusive)
	Before                     int64 // only seq <= Before (keyset pagination); 0 for none
	Limit                      int
}

// where returns the SQL condition and arguments of f (without Before and
// Limit).
func (f Filter) where() (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		conds = append(conds, cond)
		args = append(args, v)
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.Table != "" {
		add("table_id = ?", f.Table)
	}
	if f.Record != "" {
		// Or among the ids of a list page's row (a superset: the caller
		// keeps the exact id when it expands the row).
		conds = append(conds, "(record_id = ? OR (record_id = '' AND records LIKE ?))")
		args = append(args, f.Record, "%"+f.Record+"%")
	}
	if f.Since != 0 {
		add("at >= ?", f.Since)
	}
	if f.Until != 0 {
		add("at < ?", f.Until)
	}
	if f.Before != 0 {
		add("seq <= ?", f.Before)
	}
	if len(conds) == 0 {
		return "1 = 1", nil
	}
	return strings.Join(conds, " AND "), args
}

// Row is a stored access record: one entry, or reads of several records
// (Records: "<id>" or "<id>-<µs before the row's time>") that stand for
// one entry each.
type Row struct {
	coffer.AccessEntry
	Records []string
}

// Entries expands a row into its entries, in order (newest first): one
// per record of a read of several, only record's when it is set.
func (r *Row) Entries(record string) []*coffer.AccessEntry {
	if len(r.Records) == 0 {
		if record != "" && r.RecordID != record {
			return nil
		}
		e := r.AccessEntry
		return []*coffer.AccessEntry{&e}
	}
	out := make([]*coffer.AccessEntry, 0, len(r.Records))
	for _, tok := range r.Records {
		id, delta, _ := strings.Cut(tok, "-")
		if record == "" || id == record {
			e := r.AccessEntry
			e.RecordID = id
			if d, err := strconv.ParseInt(delta, 10, 64); err == nil && d > 0 {
				e.At = e.At.Add(-time.Duration(d) * time.Microsecond)
			}
			out = append(out, &e)
		}
	}
	return out
}

// Find reads stored access records that f selects, newest first, from
// the notebook whose tables prefix qualifies.
func Find(ctx context.Context, core *store.Core, q Querier, prefix string, f Filter) ([]*Row, error) {
	where, args := f.where()
	limit := ""
	if f.Limit > 0 {
		limit = " LIMIT " + strconv.Itoa(f.Limit)
	}
	rows, err := q.QueryContext(ctx, core.Rebind("SELECT seq, at, kind, actor, api_key, ip, user_agent, table_id, record_id, records, detail FROM "+
		prefix+"_access_log WHERE "+where+" ORDER BY seq DESC"+limit), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Row
	for rows.Next() {
		var r Row
		var at int64
		var recs string
		if err := rows.Scan(&r.Seq, &at, &r.Kind, &r.UserID, &r.APIKeyID, &r.IP, &r.UserAgent, &r.TableID, &r.RecordID, &recs, &r.Detail); err != nil {
			return nil, err
		}
		r.At = store.FromMicros(at)
		if recs != "" {
			r.Records = strings.Fields(recs)
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}

// CSVHeader is the first line of the CSV form of access records.
var CSVHeader = []string{"seq", "at", "kind", "user_id", "api_key_id", "ip", "user_agent", "table_id", "record_id", "detail"}

// WriteCSV writes entries as CSV rows (without the header). Cells that a
// spreadsheet would take for a formula are neutralized with a leading '.
func WriteCSV(w *csv.Writer, entries []*coffer.AccessEntry) error {
	for _, e := range entries {
		row := []string{strconv.FormatInt(e.Seq, 10), e.At.Format("2006-01-02T15:04:05.000000Z07:00"), e.Kind, e.UserID, e.APIKeyID, e.IP, e.UserAgent, e.TableID, e.RecordID, e.Detail}
		for i := range row {
			row[i] = SafeCell(row[i])
		}
		if err := w.Write(row); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}

// SafeCell neutralizes a CSV cell that a spreadsheet would run as a
// formula (starting with =, +, -, @, tab or carriage return) by a leading '.
func SafeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// NewCSV returns a CSV writer on w that has written the header.
func NewCSV(w io.Writer) (*csv.Writer, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return nil, fmt.Errorf("csv: %w", err)
	}
	return cw, nil
}
