package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
)

// Time travel reads the state of a record at a moment S (a history
// sequence number) backwards from now: the value of cell (r, c) at S is the
// old value of the first change to (r, c) with a sequence number above S,
// or its value now when there is none; the record existed at S by the same
// rule on its existence cell (column id "").
//
// This holds only while every action after S is in the history: Resolve
// refuses a moment before the history's horizon (EHISTORY): before the
// retention cut, before the oldest action kept, or before an action
// recorded while the notebook's history was off (kept for undo only, so
// the changes before it are not all known).

// Querier is what *sql.Tx, *sql.DB and *store.WriteTx have in common.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Point is a resolved moment: the state just after action Seq (0: before
// the first action), that action's time in microseconds (0 for none), and
// the changes of column types of the table since (see Retype).
type Point struct {
	Seq     int64
	At      int64
	Retypes []Retype
}

var errUnavailable = coffer.Errorf(coffer.EHISTORY, "the history of this notebook does not reach back to that moment")

// Resolve turns a moment into the point of table whose state it names: a
// time into the last action at or before it, a sequence number into
// itself. It refuses (EHISTORY) a moment before the history's horizon,
// and (EINVALID, field) a sequence number no action has yet. st are the
// notebook's settings: its retention, and its history switch (off, the
// actions since it was switched off are kept for undo only, and not even
// that after a day: no past moment is known).
func Resolve(ctx context.Context, core *store.Core, q Querier, prefix, table string, at *coffer.AsOf, st coffer.NotebookSettings, field string) (Point, error) {
	days := st.HistoryRetentionDays
	var p Point
	var last, first sql.NullInt64
	// Two subqueries: each is one step down the primary key.
	if err := q.QueryRowContext(ctx, "SELECT (SELECT max(seq) FROM "+prefix+"_actions), (SELECT min(seq) FROM "+prefix+"_actions)").Scan(&last, &first); err != nil {
		return p, err
	}
	cutoff := core.Now().Add(-time.Duration(days) * 24 * time.Hour)
	if at.Time.IsZero() {
		if at.Seq > last.Int64 {
			return p, coffer.Invalid("no history action has that number yet",
				coffer.FieldError{Field: field, Message: fmt.Sprintf("is after the latest history action (%d)", last.Int64)})
		}
		p.Seq = at.Seq
	} else {
		if days > 0 && at.Time.Before(cutoff) {
			return p, errUnavailable
		}
		err := q.QueryRowContext(ctx, core.Rebind("SELECT seq FROM "+prefix+"_actions WHERE at <= ? ORDER BY at DESC, seq DESC LIMIT 1"), at.Time.UnixMicro()).Scan(&p.Seq)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return p, err
		}
	}
	if first.Valid && p.Seq < first.Int64-1 {
		return p, errUnavailable // the actions after it are no longer all kept
	}
	if !st.History || p.Seq < st.HistoryFrom {
		return p, errUnavailable // off, or switched off and on since the moment
	}
	if days > 0 {
		var cut sql.NullInt64
		if err := q.QueryRowContext(ctx, core.Rebind("SELECT max(seq) FROM "+prefix+"_actions WHERE at < ?"), cutoff.UnixMicro()).Scan(&cut); err != nil {
			return p, err
		}
		if cut.Valid && p.Seq < cut.Int64 {
			return p, errUnavailable
		}
	}
	return p, p.scanAfter(ctx, core, q, prefix, table)
}

// scanAfter reads, in one pass over the actions from p.Seq on, the time
// of action p.Seq, the retypes of table since, and refuses (EHISTORY) a
// moment followed by an action kept only for undo (recorded while the
// history was off: the changes before it are not all known).
func (p *Point) scanAfter(ctx context.Context, core *store.Core, q Querier, prefix, table string) error {
	rows, err := q.QueryContext(ctx, core.Rebind("SELECT seq, at, history, inverse FROM "+prefix+"_actions "+
		"WHERE seq >= ? AND (seq = ? OR history = 0 OR (kind = ? AND table_id = ?)) ORDER BY seq"), p.Seq, p.Seq, KindColumnUpdate, table)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s, when int64
		var kept int
		var inverse string
		if err := rows.Scan(&s, &when, &kept, &inverse); err != nil {
			return err
		}
		switch {
		case s == p.Seq:
			p.At = when
		case kept == 0:
			return errUnavailable
		default:
			var inv ColumnInverse
			if err := json.Unmarshal([]byte(inverse), &inv); err != nil {
				return fmt.Errorf("action %d: inverse: %w", s, err)
			}
			if inv.Column != nil && inv.Next != nil {
				p.Retypes = append(p.Retypes, Retype{Seq: s, From: inv.Column, To: inv.Next})
			}
		}
	}
	return rows.Err()
}

// First is the first change to a cell after a moment: its sequence number
// and the cell's value before it (JSON text of the API form; nil empty).
type First struct {
	Seq int64
	Old *string
}

// Cells maps the cells of one record changed after a moment, by column id
// ("" for the record's existence), to their first change.
type Cells map[string]First

// RecordChanges returns the first change after seq of each cell of one
// record of table: the database finds the first action of each cell,
// then only those actions' changes are read (within one action the
// change numbered first wins).
func RecordChanges(ctx context.Context, core *store.Core, q Querier, prefix, table, record string, seq int64) (Cells, error) {
	rows, err := q.QueryContext(ctx, core.Rebind("SELECT column_id, min(seq) FROM "+prefix+"_changes WHERE table_id = ? AND record_id = ? AND seq > ? GROUP BY column_id"),
		table, record, seq)
	if err != nil {
		return nil, err
	}
	firsts := map[string]int64{}
	var seqs []any
	for rows.Next() {
		var col string
		var s int64
		if err := rows.Scan(&col, &s); err != nil {
			rows.Close()
			return nil, err
		}
		if !slices.Contains(seqs, any(s)) {
			seqs = append(seqs, s)
		}
		firsts[col] = s
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(seqs) == 0 {
		return Cells{}, err
	}
	rows, err = q.QueryContext(ctx, core.Rebind("SELECT seq, n, column_id, old FROM "+prefix+"_changes WHERE table_id = ? AND record_id = ? AND seq IN ("+placeholders(len(seqs))+")"),
		append([]any{table, record}, seqs...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := Cells{}
	ns := map[string]int64{}
	for rows.Next() {
		var s, n int64
		var col string
		var old sql.RawBytes
		if err := rows.Scan(&s, &n, &col, &old); err != nil {
			return nil, err
		}
		if firsts[col] != s {
			continue
		}
		if _, seen := out[col]; seen && ns[col] <= n {
			continue
		}
		f := First{Seq: s}
		if old != nil {
			text := string(old)
			f.Old = &text
		}
		out[col], ns[col] = f, n
	}
	return out, rows.Err()
}

// TableChanges returns the first change after seq of each cell of every
// record of table changed since, by record id. It refuses (EASOFTOOLARGE)
// more than max records. Values are copied only for first changes.
func TableChanges(ctx context.Context, core *store.Core, q Querier, prefix, table string, seq int64, max int) (map[string]Cells, error) {
	rows, err := q.QueryContext(ctx, core.Rebind("SELECT seq, n, record_id, column_id, old FROM "+prefix+"_changes WHERE table_id = ? AND seq > ? ORDER BY seq"), table, seq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]Cells{}
	ns := map[[2]string]int64{}
	for rows.Next() {
		var s, n int64
		var rec, col string
		var old sql.RawBytes
		if err := rows.Scan(&s, &n, &rec, &col, &old); err != nil {
			return nil, err
		}
		cells := out[rec]
		if cells == nil {
			if len(out) >= max {
				return nil, TooLarge(max)
			}
			cells = Cells{}
			out[rec] = cells
		}
		k := [2]string{rec, col}
		if f, seen := cells[col]; seen && (f.Seq < s || ns[k] <= n) {
			continue
		}
		f := First{Seq: s}
		if old != nil {
			text := string(old)
			f.Old = &text
		}
		cells[col], ns[k] = f, n
	}
	return out, rows.Err()
}

// TooLarge is the refusal of a reconstruction over max records.
func TooLarge(max int) error {
	return coffer.Errorf(coffer.EASOFTOOLARGE, "the table has too many records to be read at a past moment (at most %d)", max)
}

// Revision is what the history knows of a record up to a moment: how many
// actions changed it, and the last of them (its time in microseconds and
// its author).
type Revision struct {
	Count int64
	Seq   int64
	At    int64
	Actor string
}

// Revisions returns the revisions up to seq of the records ids of table;
// records no action touched up to then are absent.
func Revisions(ctx context.Context, core *store.Core, q Querier, prefix, table string, ids []string, seq int64) (map[string]Revision, error) {
	out := map[string]Revision{}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		if err := revisionCounts(ctx, core, q, prefix, table, chunk, seq, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// revisionCounts fills out with the count and last action up to seq of
// each record of ids.
func revisionCounts(ctx context.Context, core *store.Core, q Querier, prefix, table string, ids []string, seq int64, out map[string]Revision) error {
	args := []any{table, seq}
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := q.QueryContext(ctx, core.Rebind("SELECT record_id, count(DISTINCT seq), max(seq) FROM "+prefix+"_changes WHERE table_id = ? AND seq <= ? AND record_id IN ("+placeholders(len(ids))+") GROUP BY record_id"), args...)
	if err != nil {
		return err
	}
	var lasts []any
	for rows.Next() {
		var id string
		var r Revision
		if err := rows.Scan(&id, &r.Count, &r.Seq); err != nil {
			rows.Close()
			return err
		}
		out[id] = r
		lasts = append(lasts, r.Seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(lasts) == 0 {
		return err
	}
	rows, err = q.QueryContext(ctx, core.Rebind("SELECT seq, at, actor FROM "+prefix+"_actions WHERE seq IN ("+placeholders(len(lasts))+")"), lasts...)
	if err != nil {
		return err
	}
	defer rows.Close()
	at := map[int64][2]any{}
	for rows.Next() {
		var s, when int64
		var actor string
		if err := rows.Scan(&s, &when, &actor); err != nil {
			return err
		}
		at[s] = [2]any{when, actor}
	}
	for id, r := range out {
		if a, ok := at[r.Seq]; ok {
			r.At, r.Actor = a[0].(int64), a[1].(string)
			out[id] = r
		}
	}
	return rows.Err()
}

// Retype is a change of a column's type or options after a moment, whose
// conversion of the column's values a value from before it goes through
// (read by Resolve).
type Retype struct {
	Seq      int64
	From, To *coffer.Column
}
