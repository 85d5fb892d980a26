package notebooks

import (
	"context"
	"fmt"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// CreateColumn adds a column to a table.
func (s *Service) CreateColumn(ctx context.Context, notebook, table string, in coffer.ColumnInput) (*coffer.Column, error) {
	if err := s.prepareEncryption(ctx, notebook, table, &in, ""); err != nil {
		return nil, err
	}
	var out *coffer.Column
	err := s.schemaChange(ctx, notebook, table, "CreateColumn", func(tx *store.WriteTx, nc *catalog.Conn, sc *catalog.Schema, rec *history.Recorder) error {
		tm, err := sc.Table(table)
		if err != nil {
			return err
		}
		if errs := s.checkColumn(-1, &in, sc, "", ""); len(errs) > 0 {
			return coffer.Invalid("the column is not valid", errs...)
		}
		tp, err := s.schemaPlan(ctx, nc, tx, tm)
		if err != nil {
			return err
		}
		if err := s.checkLinkTarget(ctx, nc, tx, sc, tp, &in); err != nil {
			return err
		}
		if err := s.guardAccessRefs(ctx, nc, tx, tm, nil, in.Name); err != nil {
			return err
		}
		if tm.Column(in.Name) != nil {
			return &coffer.Error{Code: coffer.ECONFLICT, Message: "a column with this name already exists",
				Fields: []coffer.FieldError{{Field: "name", Message: "is already used by another column of the table"}}}
		}
		if len(tm.Cols) >= MaxColumns {
			return coffer.Errorf(coffer.EINVALID, "a table has at most %d columns", MaxColumns)
		}
		c := &coffer.Column{ID: coffer.NewID(coffer.PrefixColumn), Name: in.Name, Type: in.Type, Options: in.Options, CreatedAt: store.FromMicros(s.NowMicros())}
		var pos int
		if err := tx.QueryRowContext(ctx, s.Rebind("SELECT COALESCE(MAX(position), 0) + 1 FROM "+nc.DB.Prefix+"_columns WHERE table_id = ?"), tm.Table.ID).Scan(&pos); err != nil {
			return err
		}
		if err := s.insertColumnRow(ctx, tx, nc.DB.Prefix, tm.Table.ID, c, pos); err != nil {
			return err
		}
		if _, err := s.addColumnSQL(ctx, tx, nc.DB.Prefix, tm.Table.ID, c, false); err != nil {
			return err
		}
		out = c
		rec.Begin(history.KindColumnCreate, tm.Table.ID, fmt.Sprintf("added column %s to table %s", c.Name, tm.Table.Name))
		rec.Inverse = history.MustJSON(history.ColumnInverse{Column: c, Position: pos})
		return s.touchTable(ctx, tx, nc.DB.Prefix, tm.Table.ID)
	})
	return out, err
}

func (s *Service) touchTable(ctx context.Context, tx *store.WriteTx, prefix, tableID string) error {
	_, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+prefix+"_tables SET updated_at = ? WHERE id = ?"), s.NowMicros(), tableID)
	return err
}

// dropColumnSQL removes the storage of a column, with the declared
// indexes that use it (indexes.go).
func (s *Service) dropColumnSQL(ctx context.Context, tx *store.WriteTx, prefix string, tm *catalog.TableMeta, cm *catalog.ColMeta) error {
	if err := s.dropIndexesUsing(ctx, tx, prefix, tm, cm.Column.ID); err != nil {
		return err
	}
	var stmts []string
	switch {
	case cm.Junction != "":
		stmts = []string{"DROP TABLE " + cm.Junction}
	case cm.Phys != "":
		if catalog.Indexable(cm.Column.Type) {
			stmts = append(stmts, "DROP INDEX IF EXISTS "+catalog.SQLIndex(prefix, cm.Column.ID))
		}
		if cm.Key != "" {
			stmts = append(stmts, "ALTER TABLE "+tm.SQL+" DROP COLUMN "+cm.Key)
		}
		stmts = append(stmts, "ALTER TABLE "+tm.SQL+" DROP COLUMN "+cm.Phys)
	}
	for _, st := range stmts {
		if _, err := tx.ExecContext(ctx, st); err != nil {
			return err
		}
	}
	return nil
}

// changedColumn finds the table and the column a schema change names, as
// the caller sees them (a hidden column answers like a missing one), with
// the caller's plan on the table.
func (s *Service) changedColumn(ctx context.Context, nc *catalog.Conn, tx *store.WriteTx, sc *catalog.Schema, table, column string) (*catalog.TableMeta, *catalog.TablePlan, *catalog.ColMeta, error) {
	tm, err := sc.Table(table)
	if err != nil {
		return nil, nil, nil, err
	}
	tp, err := s.schemaPlan(ctx, nc, tx, tm)
	if err != nil {
		return nil, nil, nil, err
	}
	cm, err := columnAs(tp, tm, column)
	return tm, tp, cm, err
}

// DeleteColumn deletes a column and its values.
func (s *Service) DeleteColumn(ctx context.Context, notebook, table, column string) error {
	return s.schemaChange(ctx, notebook, table, "DeleteColumn", func(tx *store.WriteTx, nc *catalog.Conn, sc *catalog.Schema, rec *history.Recorder) error {
		tm, _, cm, err := s.changedColumn(ctx, nc, tx, sc, table, column)
		if err != nil {
			return err
		}
		if err := s.guardAccessRefs(ctx, nc, tx, tm, cm, ""); err != nil {
			return err
		}
		if err := s.recordColumnDelete(ctx, tx, nc, tm, cm, rec); err != nil {
			return err
		}
		if err := s.dropColumnSQL(ctx, tx, nc.DB.Prefix, tm, cm); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+nc.DB.Prefix+"_columns WHERE id = ?"), cm.Column.ID); err != nil {
			return err
		}
		return s.touchTable(ctx, tx, nc.DB.Prefix, tm.Table.ID)
	})
}

// schemaPlan is the caller's view of tm during a schema change: nil for
// those who may manage grants (owners and admins), who see everything.
func (s *Service) schemaPlan(ctx context.Context, nc *catalog.Conn, tx *store.WriteTx, tm *catalog.TableMeta) (*catalog.TablePlan, error) {
	if nc.Rights.AtLeast(access.RoleAdmin) {
		return nil, nil
	}
	return s.PlanWith(ctx, nc.Rights, nc.DB.Prefix, tx, tm)
}

var errColumnNotFound = coffer.Errorf(coffer.ENOTFOUND, "column not found")

// columnAs finds a column of tm as the caller sees it (tp from
// schemaPlan): one hidden from them in every row answers exactly as a
// column that does not exist.
func columnAs(tp *catalog.TablePlan, tm *catalog.TableMeta, column string) (*catalog.ColMeta, error) {
	var cm *catalog.ColMeta
	if tp == nil {
		cm = tm.Column(column)
	} else {
		cm = tp.Visible(column)
	}
	if cm == nil {
		return nil, errColumnNotFound
	}
	return cm, nil
}

// guardAccessRefs refuses, to a caller who may not manage grants, a schema
// change that would change what the notebook's access rules mean: changing
// or deleting the column cm (nil for none) when a grant's row condition or
// a view that scopes a grant refers to it, or giving a column the name
// newName ("" for none) that such a rule refers to. Rules name columns,
// so a rename could point a rule at another column: the right to change
// what defines access is the right to grant it.
func (s *Service) guardAccessRefs(ctx context.Context, nc *catalog.Conn, tx *store.WriteTx, tm *catalog.TableMeta, cm *catalog.ColMeta, newName string) error {
	if nc.Rights.AtLeast(access.RoleAdmin) {
		return nil
	}
	refs, err := s.AccessRefsOf(ctx, tx, nc.DB.Prefix, nc.Notebook.ID, tm)
	if err != nil {
		return err
	}
	if cm != nil && (refs.Cols[cm.Column.ID] || refs.Names[catalog.NameKey(cm.Column.Name)]) {
		return coffer.Errorf(coffer.EFORBIDDEN, "the column %q is used by the notebook's access rules (a grant's row condition, or a view that scopes a grant): only the notebook's owners and admins may change or delete it", cm.Column.Name)
	}
	if newName != "" && (cm == nil || catalog.NameKey(newName) != catalog.NameKey(cm.Column.Name)) && refs.Names[catalog.NameKey(newName)] {
		return coffer.Errorf(coffer.EFORBIDDEN, "the name %q is used by the notebook's access rules (a grant's row condition, or a view that scopes a grant): only the notebook's owners and admins may give it to a column", newName)
	}
	return nil
}

// checkLinkTarget refuses, to a caller who does not see it, a link to a
// table: a table they cannot see answers as one that does not exist.
func (s *Service) checkLinkTarget(ctx context.Context, nc *catalog.Conn, tx *store.WriteTx, sc *catalog.Schema, tp *catalog.TablePlan, in *coffer.ColumnInput) error {
	if tp == nil || in.Type != coffer.TypeLink {
		return nil
	}
	target := sc.ByID[in.Options.Table]
	if target != nil {
		if _, err := s.PlanWith(ctx, nc.Rights, nc.DB.Prefix, tx, target); err == nil {
			return nil
		} else if coffer.ErrorCode(err) != coffer.ENOTFOUND {
			return err
		}
	}
	return coffer.Invalid("the column is not valid", coffer.FieldError{Field: "options.table", Message: "must name a table of this notebook"})
}
