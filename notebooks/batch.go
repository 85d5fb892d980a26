package notebooks

import (
	"context"
	"fmt"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/live"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// deletedLater reports whether an operation of ops after the i-th deletes
// the record the i-th names.
func deletedLater(ops []coffer.BatchOp, i int) bool {
	for _, op := range ops[i+1:] {
		if op.Op == coffer.OpDelete && op.ID == ops[i].ID {
			return true
		}
	}
	return false
}

// maxBatchErrors bounds the problems one failed batch reports.
const maxBatchErrors = 100

// Batch applies operations in one transaction: all or nothing.
func (s *Service) Batch(ctx context.Context, notebook, table string, ops []coffer.BatchOp) (*coffer.BatchResult, error) {
	if len(ops) == 0 {
		return nil, coffer.Invalid("the batch is empty", coffer.FieldError{Field: "operations", Message: "must hold 1 to 1000 operations"})
	}
	if len(ops) > coffer.MaxBatch {
		return nil, &coffer.Error{Code: coffer.ETOOLARGE, Message: fmt.Sprintf("a batch holds at most %d operations", coffer.MaxBatch),
			Fields: []coffer.FieldError{{Field: "operations", Message: fmt.Sprintf("must hold 1 to %d operations", coffer.MaxBatch)}}}
	}
	out := &coffer.BatchResult{Results: make([]*coffer.Record, len(ops))}
	err := s.recordWrite(ctx, notebook, table, "Batch", len(ops), func(tx *store.WriteTx, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, by string, rec *history.Recorder) ([]live.Event, error) {
		if len(ops) > 1 {
			rec.Begin(history.KindBatch, tm.Table.ID, fmt.Sprintf("%d changes to records of %s in one batch", len(ops), tm.Table.Name))
		}
		var all []coffer.FieldError
		code := ""
		rank := map[string]int{coffer.EFORBIDDEN: 4, coffer.EINVALID: 3, coffer.ENOTFOUND: 2, coffer.EVERSION: 1}
		ids := make([]string, len(ops))
		for i, op := range ops {
			prefix := fmt.Sprintf("operations[%d].", i)
			var oe *catalog.OpError
			var err error
			switch op.Op {
			case coffer.OpCreate:
				var r *coffer.Record
				if oe = refuseFiles(tp, op.Fields, prefix+"fields."); oe != nil {
					break
				}
				if r, oe, err = s.createTx(ctx, tx, rec, sc, tm, tp, by, op.Fields, prefix+"fields."); r != nil {
					ids[i] = r.ID
					out.Results[i] = r // no operation of the batch can name a record it creates
				}
			case coffer.OpUpdate:
				ids[i] = op.ID
				if oe = refuseFiles(tp, op.Fields, prefix+"fields."); oe != nil {
					break
				}
				oe, err = s.updateTx(ctx, tx, rec, sc, tm, tp, by, op.ID, op.Fields, op.Version, prefix+"fields.")
				if err == nil && oe == nil && code == "" {
					// The result is the record as this operation left it,
					// before any later operation of the batch.
					out.Results[i], err = s.ReadAs(ctx, tx, tm, tp, op.ID)
				}
			case coffer.OpDelete:
				ids[i] = op.ID
				if len(op.Fields) > 0 {
					oe = &catalog.OpError{Code: coffer.EINVALID, Fields: []coffer.FieldError{{Field: prefix + "fields", Message: "must be empty for a delete"}}}
				} else {
					oe, err = s.deleteTx(ctx, tx, rec, tm, tp, op.ID, op.Version, prefix)
				}
			default:
				oe = &catalog.OpError{Code: coffer.EINVALID, Fields: []coffer.FieldError{{Field: prefix + "op", Message: "must be create, update or delete"}}}
			}
			if err != nil {
				return nil, err
			}
			if oe != nil {
				if rank[oe.Code] > rank[code] {
					code = oe.Code
				}
				for _, fe := range oe.Fields {
					if len(all) < maxBatchErrors {
						all = append(all, fe)
					}
				}
			}
		}
		if code != "" {
			return nil, batchFailure(code, all)
		}
		if err := openRecords(ctx, tm, out.Results); err != nil {
			return nil, err
		}
		return batchEvents(tm, ops, ids, out.Results), nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// batchFailure is the error of a failed batch: the code of its gravest
// problem, and its problems.
func batchFailure(code string, problems []coffer.FieldError) error {
	msg := map[string]string{
		coffer.EFORBIDDEN: "some operations are not allowed to you; nothing was written",
		coffer.EINVALID:   "some operations are not valid; nothing was written",
		coffer.ENOTFOUND:  "some records were not found; nothing was written",
		coffer.EVERSION:   "some records have changed; nothing was written",
	}[code]
	return &coffer.Error{Code: code, Message: msg, Fields: problems}
}

// batchEvents returns the live events of a committed batch, and answers
// its deletes with the deleted ids.
func batchEvents(tm *catalog.TableMeta, ops []coffer.BatchOp, ids []string, results []*coffer.Record) []live.Event {
	evs := make([]live.Event, 0, len(ops))
	for i, op := range ops {
		if op.Op == coffer.OpDelete {
			results[i] = &coffer.Record{ID: ids[i]}
			evs = append(evs, live.Event{Record: ids[i], Op: live.OpDelete})
			continue
		}
		if op.Op == coffer.OpCreate {
			evs = append(evs, live.Event{Record: ids[i], Op: live.OpCreate, Version: results[i].Version})
			continue
		}
		if deletedLater(ops, i) {
			continue // its delete event tells what happened
		}
		evs = append(evs, live.Event{Record: ids[i], Op: live.OpUpdate, Version: results[i].Version, Cols: setColumns(tm, op.Fields)})
	}
	return evs
}
