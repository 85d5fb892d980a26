package notebooks

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/history"
	"github.com/cofferhq/coffer/live"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// Restores (coffer.BackupService.Restore): chosen records, a table or a
// whole notebook back from a snapshot. Each is a job: records and tables
// run within the request (one transaction each), notebooks in the
// background with their progress. Jobs live in memory on the node that
// runs them, for an hour after they end, and only their author finds
// them. Every restore is an event of the audit log (coffer.EventRestored).

// jobKeep is how long a finished job can still be read.
const jobKeep = time.Hour

// restoreJob is a job with its lock.
type restoreJob struct {
	mu  sync.Mutex
	job coffer.RestoreJob
	by  string // the caller who started it
}

// step counts one more unit of work done.
func (j *restoreJob) step() {
	if j == nil {
		return
	}
	j.mu.Lock()
	j.job.Done++
	j.mu.Unlock()
}

// finish ends the job with its result or error.
func (j *restoreJob) finish(now time.Time, res *coffer.Restored, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.job.Finished = &now
	if err != nil {
		j.job.Status = "failed"
		j.job.Error = &coffer.ErrorInfo{Code: coffer.ErrorCode(err), Message: coffer.ErrorMessage(err)}
		return
	}
	j.job.Status, j.job.Result = "done", res
	j.job.Done = j.job.Total
}

// snapshotJob returns a copy of the job as it is now.
func (j *restoreJob) snapshotJob() *coffer.RestoreJob {
	j.mu.Lock()
	defer j.mu.Unlock()
	c := j.job
	return &c
}

// newJob registers a running job.
func (s *Service) newJob(by, notebook, snapshot, kind, mode string, total int) *restoreJob {
	now := s.Now()
	j := &restoreJob{by: by, job: coffer.RestoreJob{ID: "rst_" + coffer.NewID("")[0:26], Notebook: notebook, Snapshot: snapshot, Kind: kind, Mode: mode,
		Status: "running", Total: total, Started: now}}
	s.bk.mu.Lock()
	if s.bk.jobs == nil {
		s.bk.jobs = map[string]*restoreJob{}
	}
	for id, o := range s.bk.jobs {
		o.mu.Lock()
		old := o.job.Finished != nil && now.Sub(*o.job.Finished) > jobKeep
		o.mu.Unlock()
		if old {
			delete(s.bk.jobs, id)
		}
	}
	s.bk.jobs[j.job.ID] = j
	s.bk.mu.Unlock()
	return j
}

// FindRestore returns a restore job the caller started.
func (s *Service) FindRestore(ctx context.Context, id string) (*coffer.RestoreJob, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return nil, err
	}
	s.bk.mu.Lock()
	j := s.bk.jobs[id]
	s.bk.mu.Unlock()
	if j == nil || j.by != c.UserID {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "restore not found")
	}
	return j.snapshotJob(), nil
}

// Restore runs a restore from a snapshot (see RestoreRecords,
// RestoreSnapshotTable and RestoreNotebook) and returns its job: finished, except for a whole
// notebook, which runs on and is followed with FindRestore.
func (s *Service) Restore(ctx context.Context, notebook string, in coffer.RestoreInput) (*coffer.RestoreJob, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if in.At != nil {
		if ctx, err = s.pointInTimeInput(ctx, notebook, &in); err != nil {
			return nil, err
		}
	}
	var errs []coffer.FieldError
	if in.Snapshot == "" {
		errs = append(errs, coffer.FieldError{Field: "snapshot", Message: "is required"})
	}
	switch in.Mode {
	case "":
		in.Mode = coffer.RestoreReplace
	case coffer.RestoreReplace, coffer.RestoreCopy:
	default:
		errs = append(errs, coffer.FieldError{Field: "mode", Message: "must be replace or copy"})
	}
	if in.Records != nil && in.Table == "" {
		errs = append(errs, coffer.FieldError{Field: "table", Message: "is required with records"})
	}
	if in.Records != nil && len(in.Records) == 0 {
		errs = append(errs, coffer.FieldError{Field: "records", Message: "must name at least one record"})
	}
	if len(in.Records) > coffer.MaxPageSize {
		errs = append(errs, coffer.FieldError{Field: "records", Message: fmt.Sprintf("must name at most %d records", coffer.MaxPageSize)})
	}
	if in.Records != nil && in.Mode == coffer.RestoreCopy {
		errs = append(errs, coffer.FieldError{Field: "mode", Message: "records are restored in place (replace)"})
	}
	if in.Preview && in.Records == nil {
		errs = append(errs, coffer.FieldError{Field: "preview", Message: "is available for chosen records"})
	}
	if in.File != "" && (in.Table != "" || in.Records != nil || in.Mode != coffer.RestoreReplace) {
		errs = append(errs, coffer.FieldError{Field: "file", Message: "is restored alone, in place"})
	}
	if len(errs) > 0 {
		return nil, coffer.Invalid("the restore is not valid", errs...)
	}
	switch {
	case in.File != "":
		j := s.newJob(c.UserID, notebook, in.Snapshot, "file", in.Mode, 1)
		res, err := s.RestoreFile(ctx, notebook, in.Snapshot, in.File)
		return s.ended(j, res, err)
	case in.Records != nil:
		j := s.newJob(c.UserID, notebook, in.Snapshot, "records", in.Mode, len(in.Records))
		res, err := s.restoreRecords(ctx, notebook, in.Table, in.Snapshot, in.Records, in.Preview, j)
		return s.ended(j, res, err)
	case in.Table != "":
		j := s.newJob(c.UserID, notebook, in.Snapshot, "table", in.Mode, 0)
		res, err := s.restoreTable(ctx, notebook, in.Table, in.Snapshot, in.Mode, j)
		return s.ended(j, res, err)
	}
	return s.startNotebook(ctx, notebook, in)
}

// ended finishes a job run within the request: an error is the answer.
func (s *Service) ended(j *restoreJob, res *coffer.Restored, err error) (*coffer.RestoreJob, error) {
	j.finish(s.Now(), res, err)
	if err != nil {
		s.bk.mu.Lock()
		delete(s.bk.jobs, j.job.ID)
		s.bk.mu.Unlock()
		return nil, err
	}
	return j.snapshotJob(), nil
}

// audit records a restore in the audit log.
func (s *Service) auditRestore(ctx context.Context, detail string) error {
	c, err := store.Caller(ctx)
	if err != nil {
		return err
	}
	return s.Write(ctx, s.Inst, "Restore", func(tx *store.WriteTx) error {
		return s.Event(ctx, tx, coffer.EventRestored, c.UserID, c.Email, pointDetail(ctx, detail))
	})
}

// RestoreRecords upserts records of table from snapshot through the
// ordinary write path, as one undoable action; with preview it writes
// nothing and returns what would change (Diff).
func (s *Service) RestoreRecords(ctx context.Context, notebook, table, snapshot string, ids []string, preview bool) (*coffer.Restored, error) {
	return s.restoreRecords(ctx, notebook, table, snapshot, ids, preview, nil)
}

func (s *Service) restoreRecords(ctx context.Context, notebook, table, snapshot string, ids []string, preview bool, job *restoreJob) (*coffer.Restored, error) {
	if !preview {
		if err := store.Writable(ctx, true); err != nil {
			return nil, err
		}
	}
	bctx, release, err := s.BrowseSnapshot(ctx, notebook, snapshot)
	if err != nil {
		return nil, err
	}
	defer release()
	st, err := s.readSnapTable(bctx, notebook, s.liveTableID(ctx, notebook, table), ids)
	if err != nil {
		return nil, err
	}
	summary := fmt.Sprintf("restored %d records of %s from snapshot %s", len(ids), st.tm.Table.Name, snapshot)
	res, err := s.restoreInTable(ctx, notebook, st, preview, job, summary, func(r *restoreRun) error { return r.records(ids) })
	if coffer.ErrorCode(err) == coffer.ENOTFOUND && err != catalog.ErrRecordNotFound && len(coffer.ErrorFields(err)) == 0 {
		err = coffer.Errorf(coffer.ENOTFOUND, "the table no longer exists: restore it as a copy")
	}
	if err != nil {
		return nil, err
	}
	if preview {
		for _, id := range ids {
			d, err := s.compareRecord(ctx, bctx, notebook, st.tm.Table.ID, id, snapshot)
			if err != nil {
				return nil, err
			}
			res.Diff = append(res.Diff, *d)
		}
		return res, nil
	}
	return res, s.auditRestore(ctx, fmt.Sprintf("restored %d records of table %s of notebook %s from snapshot %s (action %d)", len(ids), st.tm.Table.ID, notebook, snapshot, res.Seq))
}

// RestoreSnapshotTable sets a table back to the snapshot (mode replace, one
// undoable action), or makes a copy of the snapshot's table beside it
// (mode copy) named "<table> (restored <day>)".
func (s *Service) RestoreSnapshotTable(ctx context.Context, notebook, table, snapshot, mode string) (*coffer.Restored, error) {
	return s.restoreTable(ctx, notebook, table, snapshot, mode, nil)
}

func (s *Service) restoreTable(ctx context.Context, notebook, table, snapshot, mode string, job *restoreJob) (*coffer.Restored, error) {
	if err := store.Writable(ctx, true); err != nil {
		return nil, err
	}
	bctx, release, err := s.BrowseSnapshot(ctx, notebook, snapshot)
	if err != nil {
		return nil, err
	}
	defer release()
	st, err := s.readSnapTable(bctx, notebook, s.liveTableID(ctx, notebook, table), nil)
	if err != nil {
		return nil, err
	}
	if job != nil {
		job.mu.Lock()
		job.job.Total = len(st.visible)
		job.mu.Unlock()
	}
	var res *coffer.Restored
	if mode == coffer.RestoreCopy {
		sn, err := s.snapshotOf(ctx, notebook, snapshot)
		if err != nil {
			return nil, err
		}
		res, err = s.copyTable(ctx, notebook, st, sn, job)
		if err != nil {
			return nil, err
		}
	} else {
		summary := fmt.Sprintf("restored table %s from snapshot %s", st.tm.Table.Name, snapshot)
		res, err = s.restoreInTable(ctx, notebook, st, false, job, summary, func(r *restoreRun) error { return r.table() })
		if err != nil {
			if coffer.ErrorCode(err) == coffer.ENOTFOUND && len(coffer.ErrorFields(err)) == 0 {
				err = coffer.Errorf(coffer.ENOTFOUND, "the table no longer exists: restore it as a copy")
			}
			return nil, err
		}
	}
	return res, s.auditRestore(ctx, fmt.Sprintf("restored table %s of notebook %s from snapshot %s (%s)", st.tm.Table.ID, notebook, snapshot, mode))
}

// copyTable creates a new table with the snapshot table's columns the
// caller may read (secret ones left out; links kept where their table
// still exists) and fills it with the rows they see, as new records.
func (s *Service) copyTable(ctx context.Context, notebook string, st *snapTable, sn *coffer.Snapshot, job *restoreJob) (*coffer.Restored, error) {
	name := fmt.Sprintf("%s (restored %s)", st.tm.Table.Name, sn.Day)
	in := coffer.TableInput{Name: name}
	var cols []*catalog.ColMeta
	for _, cm := range st.cols {
		c := cm.Column
		if c.Type.Secret() || (c.Type == coffer.TypeLink && c.Options.Table == st.tm.Table.ID) {
			continue
		}
		in.Columns = append(in.Columns, coffer.ColumnInput{Name: c.Name, Type: c.Type, Options: c.Options})
		cols = append(cols, cm)
	}
	t, err := s.CreateTable(ctx, notebook, in)
	if err != nil {
		if coffer.ErrorCode(err) == coffer.EINVALID {
			// A link to a table deleted since: copied without links.
			in.Columns = in.Columns[:0]
			kept := cols[:0]
			for _, cm := range cols {
				if cm.Column.Type != coffer.TypeLink {
					in.Columns = append(in.Columns, coffer.ColumnInput{Name: cm.Column.Name, Type: cm.Column.Type, Options: cm.Column.Options})
					kept = append(kept, cm)
				}
			}
			cols = kept
			t, err = s.CreateTable(ctx, notebook, in)
		}
		if err != nil {
			return nil, err
		}
	}
	res := &coffer.Restored{Created: []string{}, Updated: []string{}, Deleted: []string{}, Table: t}
	ids := make([]string, 0, len(st.visible))
	for id := range st.visible {
		ids = append(ids, id)
	}
	sortIDs(ids)
	err = s.recordWrite(ctx, notebook, t.ID, "Restore", len(ids), func(tx *store.WriteTx, sc *catalog.Schema, tm *catalog.TableMeta, tp *catalog.TablePlan, by string, rec *history.Recorder) ([]live.Event, error) {
		rec.Begin(history.KindBatch, tm.Table.ID, fmt.Sprintf("restored %d records into %s from snapshot %s", len(ids), tm.Table.Name, sn.ID))
		var evs []live.Event
		for _, id := range ids {
			row := st.visible[id]
			fields := map[string]any{}
			for _, cm := range cols {
				c := cm.Column
				if c.Type.Automatic() || !row.canRead(c.ID) {
					continue
				}
				v := row.rec.Fields[c.Name]
				if ids, ok := v.([]string); ok && cm.Junction != "" {
					target := sc.ByID[c.Options.Table]
					if target == nil {
						continue
					}
					found, err := s.existingIDs(ctx, tx, target, ids)
					if err != nil {
						return nil, err
					}
					var kept []string
					for _, l := range ids {
						if found[l] {
							kept = append(kept, l)
						}
					}
					if len(kept) == 0 {
						continue
					}
					v = kept
				}
				if v != nil {
					fields[c.Name] = v
				}
			}
			r, oe, err := s.createTx(ctx, tx, rec, sc, tm, tp, by, fields, "records["+id+"].")
			if oe != nil || err != nil {
				return nil, errOr(oe, err)
			}
			res.Created = append(res.Created, r.ID)
			evs = append(evs, live.Event{Record: r.ID, Op: live.OpCreate, Version: 1})
			job.step()
		}
		return evs, nil
	})
	if err != nil {
		// Nothing half-restored: the new table goes again.
		_ = s.DeleteTable(context.WithoutCancel(ctx), notebook, t.ID)
		return nil, err
	}
	return res, nil
}

// RestoreNotebook restores a whole notebook from snapshot: as a copy (a
// new notebook owned by the caller, mode copy) or in place (owners only,
// after a safety snapshot, mode replace).
func (s *Service) RestoreNotebook(ctx context.Context, notebook, snapshot, mode string) (*coffer.Restored, error) {
	return s.restoreNotebook(ctx, notebook, snapshot, mode, nil)
}

func (s *Service) restoreNotebook(ctx context.Context, notebook, snapshot, mode string, job *restoreJob) (*coffer.Restored, error) {
	if err := store.Writable(ctx, true); err != nil {
		return nil, err
	}
	nb, a, err := s.mayRestore(ctx, notebook)
	if err != nil {
		return nil, err
	}
	sn, err := s.snapshotOf(ctx, notebook, snapshot)
	if err != nil {
		return nil, err
	}
	if sn.Status != coffer.SnapshotGood {
		return nil, coffer.Errorf(coffer.ECONFLICT, "the snapshot is not complete (%s)", sn.Status)
	}
	if mode == coffer.RestoreCopy {
		return s.copyNotebook(ctx, nb, sn, job)
	}
	if a.Role() != access.RoleOwner {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "only the notebook's owners may restore it in place")
	}
	return s.notebookInPlace(ctx, nb, sn, job)
}

// startNotebook starts a whole-notebook restore in the background.
func (s *Service) startNotebook(ctx context.Context, notebook string, in coffer.RestoreInput) (*coffer.RestoreJob, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := store.Writable(ctx, true); err != nil {
		return nil, err
	}
	// The checks that need no loading answer at once.
	_, a, err := s.mayRestore(ctx, notebook)
	if err != nil {
		return nil, err
	}
	if _, err := s.snapshotOf(ctx, notebook, in.Snapshot); err != nil {
		return nil, err
	}
	if in.Mode == coffer.RestoreReplace && a.Role() != access.RoleOwner {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "only the notebook's owners may restore it in place")
	}
	if in.Mode == coffer.RestoreCopy && !a.AtLeast(access.RoleAdmin) {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "only the notebook's owners and admins may copy a whole snapshot")
	}
	j := s.newJob(c.UserID, notebook, in.Snapshot, "notebook", in.Mode, 0)
	bg := context.WithoutCancel(ctx)
	go func() {
		res, err := s.restoreNotebook(bg, notebook, in.Snapshot, in.Mode, j)
		j.finish(s.Now(), res, err)
	}()
	return j.snapshotJob(), nil
}
