package notebooks

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/live"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// Undo undoes the caller's latest undoable action in the notebook, from
// the same client session, within history.UndoWindow.
func (s *Service) Undo(ctx context.Context, notebook string, opts coffer.UndoOptions) (*coffer.ActionDone, error) {
	return s.stackStep(ctx, notebook, "Undo", history.KindUndo, opts.Force)
}

// Redo does again what the caller's latest undo in the notebook undid,
// unless an ordinary action of the same session came after it.
func (s *Service) Redo(ctx context.Context, notebook string, opts coffer.UndoOptions) (*coffer.ActionDone, error) {
	return s.stackStep(ctx, notebook, "Redo", history.KindRedo, opts.Force)
}

// stackStep takes the top of the caller's undo (kind undo) or redo stack
// and inverts it: a redo inverts the undo it takes.
func (s *Service) stackStep(ctx context.Context, notebook, op, kind string, force bool) (*coffer.ActionDone, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return nil, err
	}
	client := history.ClientOf(c)
	pick := func(inv *inversion) (*history.StoredAction, error) {
		since := s.NowMicros() - history.UndoWindow.Microseconds()
		latest, none := history.LatestUndoable, coffer.Errorf(coffer.ENOTHINGTOUNDO, "you have nothing to undo in this notebook (from this session, in the last day)")
		if kind == history.KindRedo {
			latest, none = history.LatestRedoable, coffer.Errorf(coffer.ENOTHINGTOREDO, "you have nothing to redo in this notebook (from this session)")
		}
		seq, err := latest(ctx, s.Core, inv.tx, inv.nc.DB.Prefix, c.UserID, client, since)
		if err != nil {
			return nil, err
		}
		if seq == 0 {
			return nil, none
		}
		return history.ReadAction(ctx, s.Core, inv.tx, inv.nc.DB.Prefix, seq)
	}
	return s.invertAction(ctx, notebook, op, kind, force, pick)
}

// inversion is one undo, redo or restore in progress: the action it
// inverts, the write transaction, and what inverting it did so far.
type inversion struct {
	s      *Service
	ctx    context.Context
	tx     *store.WriteTx
	nc     *catalog.Conn
	sc     *catalog.Schema
	by     string // the caller's user id
	target *history.StoredAction
	kind   string // of the new action: undo, redo or restore
	force  bool
	rec    *history.Recorder

	reviving  map[string]bool // records the inversion brings back
	conflicts []coffer.CellRef
	events    []live.Event
	schema    bool // the catalogue changed
	views     bool // a view changed: compiled access is recomputed
}

// maxConflicts bounds the cells a refused undo lists.
const maxConflicts = 100

// conflict notes a cell that no longer holds what the action wrote.
func (inv *inversion) conflict(table, record, column string) {
	if len(inv.conflicts) < maxConflicts {
		inv.conflicts = append(inv.conflicts, coffer.CellRef{Table: table, Record: record, Column: column})
	}
}

// refuse is the ECONFLICT of the conflicts noted, unless forced; nil when
// there are none.
func (inv *inversion) refuse() error {
	if len(inv.conflicts) == 0 || inv.force {
		return nil
	}
	return &coffer.Error{Code: coffer.ECONFLICT, Cells: inv.conflicts,
		Message: fmt.Sprintf("%d cells changed since the action (someone else changed them): nothing was changed; force the %s to overwrite them", len(inv.conflicts), inv.kind)}
}

// invertAction runs one inversion in a write transaction: pick chooses the
// action, which is claimed (so that two requests never invert it twice),
// inverted by its kind's code, and recorded as a new action of kind kind.
func (s *Service) invertAction(ctx context.Context, notebook, op, kind string, force bool, pick func(inv *inversion) (*history.StoredAction, error)) (*coffer.ActionDone, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return nil, err
	}
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, s.Wrap(op, err)
	}
	defer nc.Release()
	var done *coffer.ActionDone
	var inv *inversion
	err = s.Write(ctx, nc.DB, op, func(tx *store.WriteTx) error {
		if err := s.LockSchema(ctx, nc.DB, tx); err != nil {
			return err
		}
		sc, err := s.SchemaTx(ctx, notebook, nc.DB, tx)
		if err != nil {
			return err
		}
		inv = &inversion{s: s, ctx: ctx, tx: tx, nc: nc, sc: sc, by: c.UserID, kind: kind, force: force, rec: &history.Recorder{}}
		done, err = inv.run(pick)
		return err
	})
	if inv != nil && inv.schema {
		s.Schemas.Invalidate(notebook)
	}
	if err != nil {
		return nil, err
	}
	if inv.views {
		s.ForgetAccess(notebook)
		if err := s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
			_, err := tx.ExecContext(ctx, s.Rebind("UPDATE "+s.Inst.Prefix+"notebooks SET access_version = access_version + 1 WHERE id = ?"), notebook)
			return err
		}); err != nil {
			return nil, err
		}
	}
	s.published(inv.events)
	return done, nil
}

// run picks, claims, inverts and records, inside the transaction.
func (inv *inversion) run(pick func(inv *inversion) (*history.StoredAction, error)) (*coffer.ActionDone, error) {
	s, ctx, prefix := inv.s, inv.ctx, inv.nc.DB.Prefix
	a, err := pick(inv)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "action not found")
	}
	// A restore takes from the trash what a deletion removed, which may
	// be part of it only: the deletion stays as it was.
	restore := inv.kind == history.KindRestore
	if !restore {
		if ok, err := history.Claim(ctx, s.Core, inv.tx, prefix, a.Seq); err != nil || !ok {
			if err == nil {
				err = coffer.Errorf(coffer.ECONFLICT, "this action was just undone by another request")
			}
			return nil, err
		}
	}
	inv.target = a
	eff, payload, err := a.Effective()
	if err != nil {
		return nil, err
	}
	summary := "restored " + a.Summary // what the trash gave back
	if !restore {
		verb := map[string]string{history.KindUndo: "undid", history.KindRedo: "redid"}[inv.kind]
		summary = verb + ": " + strings.TrimPrefix(strings.TrimPrefix(a.Summary, "undid: "), "redid: ")
	}
	inv.rec.Begin(inv.kind, a.Table, summary)
	switch inv.kind {
	case history.KindUndo:
		inv.rec.Undoes = a.Seq
	case history.KindRedo:
		inv.rec.Redoes = a.Undoes
	}
	inv.rec.Inverse = history.MustJSON(history.Inverted{Kind: history.Opposite(eff)})
	if err := inv.apply(eff, payload); err != nil {
		return nil, err
	}
	seq, err := s.record(ctx, inv.tx, inv.nc.DB, inv.sc, inv.rec)
	if err != nil {
		return nil, err
	}
	if !restore {
		if err := history.MarkUndone(ctx, s.Core, inv.tx, prefix, a.Seq, seq); err != nil {
			return nil, err
		}
	}
	if inv.schema {
		if _, err := inv.tx.ExecContext(ctx, "UPDATE "+prefix+"_schema_version SET version = version + 1"); err != nil {
			return nil, err
		}
	}
	if err := s.emit(ctx, inv.tx, inv.events); err != nil {
		return nil, err
	}
	return inv.done(seq), nil
}

// apply inverts the target by the kind of change it made.
func (inv *inversion) apply(eff string, payload json.RawMessage) error {
	switch eff {
	case history.KindColumnCreate:
		return inv.dropColumn(payload)
	case history.KindColumnDelete:
		return inv.reviveColumn(payload)
	case history.KindColumnUpdate:
		return inv.revertColumn(payload)
	case history.KindTableCreate:
		return inv.dropTable(payload)
	case history.KindTableDelete:
		return inv.reviveTable(payload)
	case history.KindTableUpdate:
		return inv.renameTable(payload)
	case history.KindViewCreate, history.KindViewUpdate, history.KindViewDelete:
		return inv.invertView(eff, payload)
	case history.KindIndexCreate:
		return inv.undeclareIndex(payload)
	case history.KindIndexDelete:
		return inv.redeclareIndex(payload)
	}
	return inv.invertRecords()
}

// done is the answer: the new action and the records it touched.
func (inv *inversion) done(seq int64) *coffer.ActionDone {
	out := &coffer.ActionDone{Seq: seq, Kind: inv.kind, Summary: inv.rec.Summary, Records: []coffer.RecordRef{}}
	switch inv.kind {
	case history.KindUndo:
		out.Of = inv.target.Seq
	case history.KindRedo:
		out.Of = inv.target.Undoes // the target is the undo; the action redone is what it undid
	}
	seen := map[coffer.RecordRef]bool{}
	for _, c := range inv.rec.Changes {
		r := coffer.RecordRef{Table: c.Table, Record: c.Record}
		if !seen[r] {
			seen[r] = true
			out.Records = append(out.Records, r)
		}
	}
	return out
}

// decodeCell reads a recorded value (JSON text of the API form) back into
// the form a write takes.
func decodeCell(text *string) (any, error) {
	if text == nil {
		return nil, nil
	}
	d := json.NewDecoder(strings.NewReader(*text))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

// recordPlan is the caller's plan on a table for an inversion: EFORBIDDEN
// when they may see no row of it any more.
func (inv *inversion) recordPlan(plans map[string]*catalog.TablePlan, tableID string) (*catalog.TablePlan, error) {
	if tp, ok := plans[tableID]; ok {
		return tp, nil
	}
	tm := inv.sc.ByID[tableID]
	if tm == nil {
		return nil, coffer.Errorf(coffer.ECONFLICT, "the table this action changed was deleted since: restore it first")
	}
	tp, err := inv.s.PlanWith(inv.ctx, inv.nc.Rights, inv.nc.DB.Prefix, inv.tx, tm)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		// Not named: the caller no longer sees it.
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "you may no longer change a table this action changed")
	}
	if err != nil {
		return nil, err
	}
	plans[tableID] = tp
	return tp, nil
}

// seesRecord reports whether record id exists and the caller may see it.
func (inv *inversion) seesRecord(tp *catalog.TablePlan, id string) (bool, []bool, error) {
	found, vals, err := inv.s.CondsOn(inv.ctx, inv.tx, tp, id)
	if err != nil || !found {
		return false, nil, err
	}
	return tp.Full() || catalog.AnyOf(vals, catalog.AllConds(tp)), vals, nil
}

// readableHere reports whether the caller may read column col in a
// record where the conditions vals hold (CondsOn).
func readableHere(tp *catalog.TablePlan, vals []bool, col string) bool {
	if tp.Full() {
		return true
	}
	for i, c := range tp.Decision.Conds {
		if r := c.Right(col); vals[i] && (r == access.Read || r == access.Write) {
			return true
		}
	}
	return false
}

// undoOpError turns the refusal of one record write of an inversion into
// its error.
func undoOpError(oe *catalog.OpError) error {
	if oe.Code == coffer.EFORBIDDEN || oe.Code == coffer.EINVALID {
		msg := "the record can no longer be written as it was"
		if len(oe.Fields) > 0 {
			msg = oe.Fields[0].Message
		}
		return &coffer.Error{Code: oe.Code, Message: msg, Fields: oe.Fields}
	}
	return coffer.Errorf(coffer.ECONFLICT, "a record this action changed was changed or deleted meanwhile")
}
