package notebooks

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/colkey"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
	"github.com/cofferhq/coffer/value"
)

// MaxConversionErrors bounds the per-record problems a failed type change reports.
const MaxConversionErrors = 100

// UpdateColumn renames a column or changes its type or options, converting
// every value in the same transaction.
func (s *Service) UpdateColumn(ctx context.Context, notebook, table, column string, upd coffer.ColumnUpdate) (*coffer.Column, error) {
	var out *coffer.Column
	var passwordChanged []string // notebook, table and column ids
	err := s.schemaChange(ctx, notebook, table, "UpdateColumn", func(tx *store.WriteTx, nc *catalog.Conn, sc *catalog.Schema, rec *history.Recorder) error {
		tm, tp, cm, err := s.changedColumn(ctx, nc, tx, sc, table, column)
		if err != nil {
			return err
		}
		old := cm.Column
		in := coffer.ColumnInput{Name: old.Name, Type: old.Type, Options: old.Options}
		if upd.Name != nil {
			in.Name = *upd.Name
		}
		if upd.Type != nil {
			in.Type = *upd.Type
			if upd.Options == nil && in.Type != old.Type {
				in.Options = coffer.ColumnOptions{}
				if isSelect(in.Type) && isSelect(old.Type) {
					in.Options.Choices = old.Options.Choices
				}
				if value.Collatable(in.Type) && value.Collatable(old.Type) {
					in.Options.Collation = old.Options.Collation
				}
			}
		}
		var newPassword, currentPassword string
		if upd.Options != nil {
			in.Options = *upd.Options
			if old.Type == coffer.TypeEncrypted && in.Type == coffer.TypeEncrypted {
				if in.Options.Encryption != nil {
					return coffer.Invalid("the column is not valid", coffer.FieldError{Field: "options.encryption", Message: "is set by the server from options.password"})
				}
				newPassword, currentPassword = in.Options.Password, in.Options.CurrentPassword
				if newPassword == "" && currentPassword != "" {
					return coffer.Invalid("the column is not valid", coffer.FieldError{Field: "options.password", Message: "is required with options.current_password"})
				}
				in.Options.Password, in.Options.CurrentPassword = "", ""
				in.Options.Encryption = old.Options.Encryption
			}
		}
		if in.Type != old.Type && (in.Type.Secret() || old.Type.Secret()) {
			return coffer.Invalid("the column is not valid", coffer.FieldError{Field: "type", Message: "encrypted and password columns cannot be converted to or from other types"})
		}
		if errs := s.checkColumn(-1, &in, sc, "", ""); len(errs) > 0 {
			return coffer.Invalid("the column is not valid", errs...)
		}
		if other := tm.Column(in.Name); other != nil && other != cm {
			return &coffer.Error{Code: coffer.ECONFLICT, Message: "a column with this name already exists",
				Fields: []coffer.FieldError{{Field: "name", Message: "is already used by another column of the table"}}}
		}
		next := &coffer.Column{ID: old.ID, Name: in.Name, Type: in.Type, Options: in.Options, CreatedAt: old.CreatedAt}
		if next.Name != old.Name || next.Type != old.Type || !optionsEqual(next.Options, old.Options) {
			if err := s.guardAccessRefs(ctx, nc, tx, tm, cm, next.Name); err != nil {
				return err
			}
		}
		if err := s.checkLinkTarget(ctx, nc, tx, sc, tp, &in); err != nil {
			return err
		}
		if newPassword != "" {
			// A password change re-encrypts every value, in the table and
			// in history; undoing it would restore a key that opens none
			// of them, so it is not an undoable action.
			enc, err := s.changePassword(ctx, tx, nc.DB.Prefix, tm, cm, currentPassword, newPassword)
			if err != nil {
				return err
			}
			next.Options.Encryption = enc
			rec.Off()
			if !upd.DryRun {
				passwordChanged = []string{tm.Table.NotebookID, tm.Table.ID, next.ID}
			}
		}
		rec.Begin(history.KindColumnUpdate, tm.Table.ID, fmt.Sprintf("changed column %s of table %s", old.Name, tm.Table.Name))
		rec.Inverse = history.MustJSON(history.ColumnInverse{Column: old, Next: next})
		if err := s.convertColumn(ctx, tx, rec, nc.DB.Prefix, tm, cm, next, tp); err != nil {
			return err
		}
		opts, err := json.Marshal(next.Options)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+nc.DB.Prefix+"_columns SET name = ?, name_key = ?, type = ?, options = ?, sort_key = ? WHERE id = ?"),
			next.Name, catalog.NameKey(next.Name), string(next.Type), string(opts), catalog.KeyFormat(next), next.ID); err != nil {
			return err
		}
		if err := s.touchTable(ctx, tx, nc.DB.Prefix, tm.Table.ID); err != nil {
			return err
		}
		out = next
		if upd.DryRun {
			return errDryRun
		}
		return nil
	})
	if err == errDryRun {
		return out, nil
	}
	if err == nil && passwordChanged != nil {
		colkey.UnlocksFrom(ctx).Forget(passwordChanged[0], passwordChanged[2])
		if aerr := s.secretEvent(ctx, EventColumnPassword, fmt.Sprintf("column %s of table %s of notebook %s", passwordChanged[2], passwordChanged[1], passwordChanged[0])); aerr != nil {
			return out, aerr
		}
	}
	return out, err
}

var errDryRun = &coffer.Error{Code: "dry_run"}

func isSelect(t coffer.ColumnType) bool {
	return t == coffer.TypeSingleSelect || t == coffer.TypeMultiSelect
}

// convertColumn changes the stored values of cm to the type and options of
// next. When any value cannot be converted it returns ECONVERSION naming
// the records, and the caller's transaction is rolled back. tp is the
// caller's view of the table (nil: they see everything): the report names
// and counts only the cells they may read; when only cells they may not
// read fail, the change is refused with ECONVERSIONBLOCKED, which names
// and counts nothing.
func (s *Service) convertColumn(ctx context.Context, tx *store.WriteTx, rec *history.Recorder, prefix string, tm *catalog.TableMeta, cm *catalog.ColMeta, next *coffer.Column, tp *catalog.TablePlan) error {
	old := cm.Column
	if old.Type == next.Type && (optionsEqual(old.Options, next.Options) || old.Type.Secret()) {
		return nil // a secret column's values do not change with its options
	}
	if (old.Type == coffer.TypeFile) != (next.Type == coffer.TypeFile) {
		return coffer.Invalid("file columns cannot be converted to or from other types",
			coffer.FieldError{Field: "type", Message: "cannot convert to or from the file type"})
	}
	readable, err := s.readableCells(ctx, tx, tp, cm)
	if err != nil {
		return err
	}
	if old.Type == coffer.TypeLink || next.Type == coffer.TypeLink {
		return s.convertLink(ctx, tx, tm, cm, next, tp, readable)
	}
	if old.Type.Automatic() || next.Type.Automatic() {
		if old.Type != next.Type {
			return coffer.Invalid("automatic columns cannot be converted to or from other types",
				coffer.FieldError{Field: "type", Message: "cannot convert to or from an automatic type"})
		}
		return nil
	}
	changes, err := s.convertedValues(ctx, tx, tm, cm, next, readable)
	if err != nil {
		return err
	}
	if s.Dialect.ColumnType(old.Type) != s.Dialect.ColumnType(next.Type) || catalog.Indexable(old.Type) != catalog.Indexable(next.Type) || (cm.Key != "") != catalog.Keyed(next) {
		// A new physical type: replace the column, then write the converted values.
		if err := s.dropColumnSQL(ctx, tx, prefix, tm, cm); err != nil {
			return err
		}
		if _, err := s.addColumnSQL(ctx, tx, prefix, tm.Table.ID, next, false); err != nil {
			return err
		}
	}
	set := cm.Phys + " = ?"
	if catalog.Keyed(next) {
		set += ", " + catalog.SQLKey(next.ID) + " = ?"
	}
	stmt, err := tx.PrepareContext(ctx, s.Rebind("UPDATE "+tm.SQL+" SET "+set+" WHERE id = ?"))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, ch := range changes {
		rec.Cell(tm.Table.ID, ch.id, old.ID, value.ToJSON(old, ch.old), value.ToJSON(next, ch.v))
		args := []any{ch.v, ch.id}
		if catalog.Keyed(next) {
			args = []any{ch.v, catalog.KeyOf(ch.v), ch.id}
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// convertLink checks a change of a link column's options: its type and
// target table stay; a multiple link may become single only where no
// record links to several.
func (s *Service) convertLink(ctx context.Context, tx *store.WriteTx, tm *catalog.TableMeta, cm *catalog.ColMeta, next *coffer.Column, tp *catalog.TablePlan, readable map[string]bool) error {
	old := cm.Column
	if old.Type != next.Type {
		return coffer.Invalid("link columns cannot be converted to or from other types",
			coffer.FieldError{Field: "type", Message: "cannot change a link column's type, or make another column a link"})
	}
	if next.Options.Table != old.Options.Table {
		return coffer.Invalid("the column is not valid", coffer.FieldError{Field: "options.table", Message: "cannot change the table a link column points to"})
	}
	if old.Options.Multiple && !next.Options.Multiple {
		return s.checkSingleLinks(ctx, tx, tm, cm, next, tp, readable)
	}
	return nil
}

// checkSingleLinks refuses to make a multiple link column single while
// some record links to several records: ECONVERSION naming the records
// the caller may read, ECONVERSIONBLOCKED when only others do.
func (s *Service) checkSingleLinks(ctx context.Context, tx *store.WriteTx, tm *catalog.TableMeta, cm *catalog.ColMeta, next *coffer.Column, tp *catalog.TablePlan, readable map[string]bool) error {
	old := cm.Column
	rows, err := tx.QueryContext(ctx, "SELECT src, dst FROM "+cm.Junction+" WHERE src IN (SELECT src FROM "+cm.Junction+" GROUP BY src HAVING count(*) > 1) ORDER BY src, dst")
	if err != nil {
		return err
	}
	links := map[string][]string{}
	var srcs, dsts []string
	for rows.Next() {
		var src, dst string
		if err := rows.Scan(&src, &dst); err != nil {
			rows.Close()
			return err
		}
		if len(links[src]) == 0 {
			srcs = append(srcs, src)
		}
		links[src] = append(links[src], dst)
		dsts = append(dsts, dst)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// What the caller sees of a link cell: only the linked records
	// they may see.
	seen := func(string) bool { return true }
	if tp != nil {
		vis, err := s.VisibleIDs(ctx, tx, tp.Rights, tp.Prefix, tm.Schema.ByID[old.Options.Table], dsts)
		if err != nil {
			return err
		}
		seen = func(id string) bool { return vis[id] }
	}
	var fields []coffer.FieldError
	hidden := false
	for _, src := range srcs {
		n := 0
		for _, dst := range links[src] {
			if seen(dst) {
				n++
			}
		}
		if readable != nil && !readable[src] || n < 2 {
			hidden = true
			continue
		}
		if len(fields) < MaxConversionErrors {
			fields = append(fields, coffer.FieldError{Field: "records." + src, Message: "links to more than one record"})
		}
	}
	if len(fields) > 0 {
		return &coffer.Error{Code: coffer.ECONVERSION, Message: "some records link to several records; the column cannot hold only one", Fields: fields}
	}
	if hidden {
		return errConversionBlocked(next.Type)
	}
	return nil
}

// conversion is one value converted for a column's new type.
type conversion struct {
	id     string
	v, old any // the converted value, and the value before
}

// convertedValues reads and converts every value of cm to next's type,
// before anything changes: ECONVERSION naming the failures the caller may
// read, ECONVERSIONBLOCKED when only others fail.
func (s *Service) convertedValues(ctx context.Context, tx *store.WriteTx, tm *catalog.TableMeta, cm *catalog.ColMeta, next *coffer.Column, readable map[string]bool) ([]conversion, error) {
	// Read and convert every value before changing anything.
	var changes []conversion
	var fields []coffer.FieldError
	failed, hiddenFailed := 0, false
	old := cm.Column
	rows, err := tx.QueryContext(ctx, "SELECT id, "+cm.Phys+" FROM "+tm.SQL+" WHERE "+cm.Phys+" IS NOT NULL ORDER BY id")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var v any
		if err := rows.Scan(&id, &v); err != nil {
			rows.Close()
			return nil, err
		}
		nv, err := value.Convert(old, next, v)
		if err != nil && readable != nil && !readable[id] {
			hiddenFailed = true
			continue
		}
		if err != nil {
			failed++
			if len(fields) < MaxConversionErrors {
				fields = append(fields, coffer.FieldError{Field: "records." + id, Message: err.Error()})
			}
			continue
		}
		changes = append(changes, conversion{id: id, v: nv, old: v})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if failed > 0 {
		return nil, &coffer.Error{Code: coffer.ECONVERSION,
			Message: fmt.Sprintf("%d value(s) cannot be converted to %s; nothing was changed", failed, next.Type), Fields: fields}
	}
	if hiddenFailed {
		return nil, errConversionBlocked(next.Type)
	}
	return changes, nil
}

// errConversionBlocked refuses a type change that fails only on cells the
// caller may not read: it neither names nor counts them.
func errConversionBlocked(t coffer.ColumnType) error {
	return coffer.Errorf(coffer.ECONVERSIONBLOCKED, "some values you cannot see cannot be converted to %s; nothing was changed (someone who sees the whole column can make this change)", t)
}

// readableCells returns the ids of the records in which the caller (tp;
// nil: everything) may read the column cm, or nil when they read it in
// every record.
func (s *Service) readableCells(ctx context.Context, tx *store.WriteTx, tp *catalog.TablePlan, cm *catalog.ColMeta) (map[string]bool, error) {
	if tp == nil || tp.Full() {
		return nil, nil
	}
	where := tp.Row()
	if m := tp.Plan.Readable(cm.Column.ID); m != "" {
		where += " AND " + m
	}
	rows, err := tx.QueryContext(ctx, s.Rebind("SELECT t.id FROM "+tp.From+" WHERE "+where), tp.Args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

func optionsEqual(a, b coffer.ColumnOptions) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
