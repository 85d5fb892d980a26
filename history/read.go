package history

import (
	"context"
	"database/sql"
	"strings"

	"github.com/cofferhq/coffer/store"
)

// Query selects actions of the per-cell history (those recorded while the
// notebook's history was on). Every field is optional.
type Query struct {
	// Table, Record and Column select the actions that changed a cell of
	// that table, record and column (ids; Record and Column need Table),
	// and only those changes of them. With Table alone, actions about the
	// table that change no cell (a rename) are selected too.
	Table, Record, Column string
	// Columns, when set, limits the changes to those of these columns
	// (ids; "" is a record's existence), and the actions to those with
	// such a change.
	Columns      []string
	Actor        string // user id
	Since, Until int64  // µs; Since inclusive, Until exclusive; 0 does not bound
	Before       int64  // only actions numbered below; 0 from the newest
	Limit        int    // at most that many actions
	// MaxChanges bounds the changes read per action (the first ones), when
	// no record is selected: an action that dropped a table holds every
	// cell of it. 0 reads them all.
	MaxChanges int
}

// Action is an action of the history with its changes.
type Action struct {
	Seq, At                                            int64
	Actor, APIKey, IP, UserAgent, Kind, Table, Summary string
	Changes                                            []Change
	// Truncated is set when the action has more changes than MaxChanges.
	Truncated bool
}

// Find reads actions of the history, newest first, with their changes
// (those of q's table, record and column when set), from the notebook
// database whose tables are qualified by prefix. Actions of one record
// are found through the index of changes by (table, record, sequence).
func Find(ctx context.Context, core *store.Core, q Querier, prefix string, f Query) ([]Action, error) {
	where, args := []string{"a.history = 1"}, []any{}
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if f.Before > 0 {
		add("a.seq < ?", f.Before)
	}
	if f.Actor != "" {
		add("a.actor = ?", f.Actor)
	}
	if f.Since != 0 {
		add("a.at >= ?", f.Since)
	}
	if f.Until != 0 {
		add("a.at < ?", f.Until)
	}
	cw, ca := changeFilter(f, "c")
	switch {
	case f.Record != "":
		// The index (table_id, record_id, seq) gives the record's actions.
		add("a.seq IN (SELECT c.seq FROM "+prefix+"_changes c WHERE "+cw+")", ca...)
	case f.Table != "" && f.Column != "":
		add("EXISTS (SELECT 1 FROM "+prefix+"_changes c WHERE c.seq = a.seq AND "+cw+")", ca...)
	case f.Table != "":
		add("(a.table_id = ? OR EXISTS (SELECT 1 FROM "+prefix+"_changes c WHERE c.seq = a.seq AND "+cw+"))", append([]any{f.Table}, ca...)...)
	case len(f.Columns) > 0:
		add("EXISTS (SELECT 1 FROM "+prefix+"_changes c WHERE c.seq = a.seq AND "+cw+")", ca...)
	}
	args = append(args, f.Limit)
	rows, err := q.QueryContext(ctx, core.Rebind("SELECT a.seq, a.at, a.actor, a.api_key, a.ip, a.user_agent, a.kind, a.table_id, a.summary FROM "+
		prefix+"_actions a WHERE "+strings.Join(where, " AND ")+" ORDER BY a.seq DESC LIMIT ?"), args...)
	if err != nil {
		return nil, err
	}
	var out []Action
	for rows.Next() {
		var a Action
		if err := rows.Scan(&a.Seq, &a.At, &a.Actor, &a.APIKey, &a.IP, &a.UserAgent, &a.Kind, &a.Table, &a.Summary); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, loadChanges(ctx, core, q, prefix, f, out)
}

// changeFilter is the condition on changes (alias c) of q's table, record
// and column, with its arguments.
func changeFilter(f Query, c string) (string, []any) {
	var where []string
	var args []any
	if f.Table != "" {
		where, args = append(where, c+".table_id = ?"), append(args, f.Table)
	}
	if f.Record != "" {
		where, args = append(where, c+".record_id = ?"), append(args, f.Record)
	}
	if f.Column != "" {
		where, args = append(where, c+".column_id = ?"), append(args, f.Column)
	}
	if len(f.Columns) > 0 {
		where, args = append(where, c+".column_id IN ("+placeholders(len(f.Columns))+")"), append(args, anys(f.Columns)...)
	}
	if len(where) == 0 {
		return "1=1", nil
	}
	return strings.Join(where, " AND "), args
}

// loadChanges reads the changes of actions (those q selects).
func loadChanges(ctx context.Context, core *store.Core, q Querier, prefix string, f Query, actions []Action) error {
	if len(actions) == 0 {
		return nil
	}
	bySeq := make(map[int64]*Action, len(actions))
	args := make([]any, 0, len(actions)+3)
	for i := range actions {
		bySeq[actions[i].Seq] = &actions[i]
		args = append(args, actions[i].Seq)
	}
	cw, ca := changeFilter(f, "c")
	args = append(args, ca...)
	limit := f.MaxChanges > 0 && f.Record == ""
	if limit {
		cw += " AND c.n <= ?"
		args = append(args, f.MaxChanges)
	}
	rows, err := q.QueryContext(ctx, core.Rebind("SELECT c.seq, c.n, c.table_id, c.record_id, c.column_id, c.old, c.new FROM "+prefix+"_changes c WHERE c.seq IN ("+
		placeholders(len(actions))+") AND "+cw+" ORDER BY c.seq, c.n"), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var seq, n int64
		var c Change
		var old, nw sql.NullString
		if err := rows.Scan(&seq, &n, &c.Table, &c.Record, &c.Column, &old, &nw); err != nil {
			return err
		}
		if limit && n >= int64(f.MaxChanges) {
			if a := bySeq[seq]; a != nil {
				a.Truncated = true
			}
			continue
		}
		if old.Valid {
			c.Old = &old.String
		}
		if nw.Valid {
			c.New = &nw.String
		}
		if a := bySeq[seq]; a != nil {
			a.Changes = append(a.Changes, c)
		}
	}
	return rows.Err()
}

func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
