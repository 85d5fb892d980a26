package notebooks

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/access"
	"github.com/cofferhq/coffer/accesslog"
	"github.com/cofferhq/coffer/store/catalog"
)

// accessState is the service's part of access records and watch rules:
// the process's queue of access records and the watch machinery.
type accessState struct {
	mu    sync.Mutex
	queue *accesslog.Queue
	watch *watcher
}

// initAccessLog sets the access record queue and watch machinery up
// with their defaults.
func (s *Service) initAccessLog() {
	s.al.watch = newWatcher(s)
	s.al.queue = accesslog.NewQueue(s.Core, accesslog.Options{Written: s.al.watch.written})
}

// SetAccessLogOptions replaces the access record queue by one with opts
// (its Written hook is the service's own). Call it before serving; the
// entries of the old queue are written first.
func (s *Service) SetAccessLogOptions(opts accesslog.Options) {
	opts.Written = s.al.watch.written
	q := accesslog.NewQueue(s.Core, opts)
	s.al.mu.Lock()
	old := s.al.queue
	s.al.queue = q
	s.al.mu.Unlock()
	old.Close(context.Background())
}

func (s *Service) accessQueue() *accesslog.Queue {
	s.al.mu.Lock()
	defer s.al.mu.Unlock()
	return s.al.queue
}

// AccessLogStats returns the counters of this process's access record
// queue: queued, written, dropped (queue full), failed, transactions.
func (s *Service) AccessLogStats() accesslog.Stats { return s.accessQueue().Stats() }

// FlushAccessLog writes the access records waiting in this process's
// queue now.
func (s *Service) FlushAccessLog() { s.accessQueue().Flush() }

// CloseAccessLog writes the waiting access records and stops the queue
// and the watch deliveries (at shutdown, before the storage closes).
func (s *Service) CloseAccessLog(ctx context.Context) {
	s.accessQueue().Close(ctx)
	s.al.watch.close(ctx)
}

// note queues access records of kind by the caller, when the notebook's
// access records are on: one per record, or one for the table (or the
// notebook, table "") when no record is named. It never blocks or fails.
func (s *Service) note(ctx context.Context, nc *catalog.Conn, kind, table, detail string, records ...string) {
	if !nc.Schema.Settings.AccessLog {
		return
	}
	c := coffer.CallerFrom(ctx)
	if c == nil {
		return
	}
	cl := coffer.ClientFrom(ctx)
	ip := cl.IP
	if ip == "" {
		ip = "-"
	}
	e := accesslog.Entry{Notebook: nc.Notebook.ID, At: s.NowMicros(), Kind: kind, Actor: c.UserID, APIKey: c.APIKeyID,
		IP: ip, UserAgent: cl.UserAgent, Table: table, Detail: detail}
	switch len(records) {
	case 0:
	case 1:
		e.Record = records[0]
	default:
		e.Records = records // one row for them all, read as one entry each
	}
	s.accessQueue().Add(e)
}

// noteOpen records that the caller opened a notebook.
func (s *Service) noteOpen(ctx context.Context, notebook string) {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return
	}
	defer nc.Release()
	s.note(ctx, nc, coffer.AccessNotebookOpen, "", "")
}

// NoteExport records, when the notebook's access records are on, that the
// caller exported data of a table (id or name; "" for the whole
// notebook), detail saying what (e.g. "history csv"), and which records
// when it names them: the hook that every export calls after its access
// checks. It returns at once and never fails the export.
func (s *Service) NoteExport(ctx context.Context, notebook, table, detail string, records ...string) {
	s.noteBy(ctx, notebook, coffer.AccessExport, table, detail, records...)
}

// NoteFileDownload records that the caller downloaded the file of a cell
// (detail names the column and the file): the hook of file downloads.
func (s *Service) NoteFileDownload(ctx context.Context, notebook, table, record, detail string) {
	s.noteBy(ctx, notebook, coffer.AccessFileDownload, table, detail, record)
}

// NoteLinkUse records that a share link was used (detail: the link's id,
// never its token), for a table and record when it names them: the hook
// of share links.
func (s *Service) NoteLinkUse(ctx context.Context, notebook, table, record, detail string) {
	var recs []string
	if record != "" {
		recs = []string{record}
	}
	s.noteBy(ctx, notebook, coffer.AccessLinkUse, table, detail, recs...)
}

// noteBy is note on a notebook named by id, and a table by id or name.
func (s *Service) noteBy(ctx context.Context, notebook, kind, table, detail string, records ...string) {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return
	}
	defer nc.Release()
	if table != "" {
		tm, err := nc.Schema.Table(table)
		if err != nil {
			return
		}
		table = tm.Table.ID
	}
	s.note(ctx, nc, kind, table, detail, records...)
}

// accessScope is what access records a caller may read in one notebook.
type accessScope struct {
	s        *Service
	nc       *catalog.Conn
	full     bool // owners and admins: everything
	notebook bool // notebook-wide records (openings, links, whole exports)
	tables   map[string]*tableScope
	records  map[string]bool // table|record → visible
}

// tableScope is the caller's access_log on one table.
type tableScope struct {
	tp      *catalog.TablePlan
	allRows bool // some condition giving access_log covers every row
}

// newAccessScope computes what the caller may read; EFORBIDDEN without
// access_log anywhere.
func (s *Service) newAccessScope(ctx context.Context, nc *catalog.Conn) (*accessScope, error) {
	sc := &accessScope{s: s, nc: nc, full: nc.Rights.AtLeast(access.RoleAdmin), tables: map[string]*tableScope{}, records: map[string]bool{}}
	if sc.full {
		return sc, nil
	}
	for _, g := range nc.Rights.Grants {
		if g.TableID == "" && g.ViewID == "" && g.Rows == "" && slices.Contains(g.Capabilities, access.CapAccessLog) {
			sc.notebook = true
		}
	}
	for _, tm := range nc.Schema.Tables {
		tp, err := s.Plan(ctx, nc, nc.DB.R, tm)
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !tp.Decision.Can(access.CapAccessLog) {
			continue
		}
		ts := &tableScope{tp: tp}
		for _, i := range tp.Decision.With(access.CapAccessLog) {
			if tp.Decision.Conds[i].Expr == nil {
				ts.allRows = true
			}
		}
		sc.tables[tm.Table.ID] = ts
	}
	if !sc.notebook && len(sc.tables) == 0 {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "reading access records needs the access_log capability")
	}
	return sc, nil
}

// allows reports whether the caller may read an access record: records
// about a record need access_log on a row condition that matches it now
// (a deleted record's, one that covers every row).
func (sc *accessScope) allows(ctx context.Context, e *coffer.AccessEntry) (bool, error) {
	if sc.full {
		return true, nil
	}
	if e.TableID == "" {
		return sc.notebook, nil
	}
	ts := sc.tables[e.TableID]
	if ts != nil && e.Kind == coffer.AccessFileDownload {
		return sc.allowsFile(ctx, ts, e)
	}
	switch {
	case ts == nil:
		return false, nil
	case e.RecordID == "" || ts.allRows:
		return true, nil
	}
	key := e.TableID + "|" + e.RecordID
	if ok, seen := sc.records[key]; seen {
		return ok, nil
	}
	found, vals, err := sc.s.CondsOn(ctx, sc.nc.DB.R, ts.tp, e.RecordID)
	if err != nil {
		return false, err
	}
	ok := found && catalog.AnyOf(vals, ts.tp.Decision.With(access.CapAccessLog))
	sc.records[key] = ok
	return ok, nil
}

// allowsFile decides on the download of a file: besides access_log on
// its row, the caller must be able to read the file's column there, so
// that a file in a column hidden from them (its id, its column, its
// links) shows in none of their access records. A download whose column
// the entry does not name is shown to owners and admins only.
func (sc *accessScope) allowsFile(ctx context.Context, ts *tableScope, e *coffer.AccessEntry) (bool, error) {
	col := fileDownloadColumn(e.Detail)
	if col == "" || ts.tp.Visible(col) == nil || e.RecordID == "" {
		return false, nil
	}
	found, vals, err := sc.s.CondsOn(ctx, sc.nc.DB.R, ts.tp, e.RecordID)
	if err != nil || !found {
		return false, err
	}
	return catalog.AnyOf(vals, ts.tp.Decision.With(access.CapAccessLog)) && readableHere(ts.tp, vals, col), nil
}

// fileDownloadColumn returns the column named by the detail of a
// file.download record ("file <id> column <id>[ link <id>]"), or "".
func fileDownloadColumn(detail string) string {
	f := strings.Fields(detail)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "column" && coffer.ValidID(coffer.PrefixColumn, f[i+1]) {
			return f[i+1]
		}
	}
	return ""
}

// accessFilter checks a query and turns it into a stored filter.
func (s *Service) accessFilter(nc *catalog.Conn, q coffer.AccessQuery) (accesslog.Filter, error) {
	f := accesslog.Filter{Kind: q.Kind, Actor: q.User, Record: q.Record, Limit: q.Limit}
	var errs []coffer.FieldError
	if q.Kind != "" && !slices.Contains(coffer.AccessKinds, q.Kind) {
		errs = append(errs, coffer.FieldError{Field: "kind", Message: "must be one of notebook.open, record.read, file.download, export, link.use"})
	}
	if q.User != "" && !coffer.ValidID(coffer.PrefixUser, q.User) {
		errs = append(errs, coffer.FieldError{Field: "user", Message: "is not a user id"})
	}
	if q.Record != "" && !coffer.ValidID(coffer.PrefixRecord, q.Record) {
		errs = append(errs, coffer.FieldError{Field: "record", Message: "is not a record id"})
	}
	switch {
	case f.Limit == 0:
		f.Limit = coffer.DefaultLimit
	case f.Limit < 1 || f.Limit > coffer.MaxPageSize:
		errs = append(errs, coffer.FieldError{Field: "limit", Message: fmt.Sprintf("must be between 1 and %d", coffer.MaxPageSize)})
	}
	if !q.Since.IsZero() {
		f.Since = q.Since.UnixMicro()
	}
	if !q.Until.IsZero() {
		f.Until = q.Until.UnixMicro()
	}
	if q.Cursor != "" {
		if _, ok := parseAccessCursor(q.Cursor); !ok {
			errs = append(errs, coffer.FieldError{Field: "cursor", Message: "is not a cursor of this list: start again without a cursor"})
		}
	}
	if len(errs) > 0 {
		return f, coffer.Invalid("the access record query is not valid", errs...)
	}
	if q.Table != "" {
		tm, err := nc.Schema.Table(q.Table)
		if err != nil {
			return f, err
		}
		f.Table = tm.Table.ID
	}
	return f, nil
}

// FindAccess lists a notebook's access records that the caller may read,
// newest first.
func (s *Service) FindAccess(ctx context.Context, notebook string, q coffer.AccessQuery) (*coffer.AccessList, error) {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, s.Wrap("FindAccess", err)
	}
	defer nc.Release()
	sc, err := s.newAccessScope(ctx, nc)
	if err != nil {
		return nil, s.Wrap("FindAccess", err)
	}
	f, err := s.accessFilter(nc, q)
	if err != nil {
		return nil, err
	}
	if f.Table != "" && !sc.full && sc.tables[f.Table] == nil {
		if _, err := s.Plan(ctx, nc, nc.DB.R, nc.Schema.ByID[f.Table]); err != nil {
			return nil, err // a table the caller cannot see
		}
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "reading the access records of this table needs the access_log capability")
	}
	from, _ := parseAccessCursor(q.Cursor)
	out, err := s.findAccess(ctx, nc, sc, f, from)
	return out, s.Wrap("FindAccess", err)
}

// accessCursor is a position in a list of access records: the row's
// sequence number and the index of the entry within the row's expansion.
type accessCursor struct {
	seq int64
	idx int
}

func (c accessCursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.seq, 10) + "." + strconv.Itoa(c.idx)))
}

func parseAccessCursor(s string) (accessCursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return accessCursor{}, false
	}
	seq, idx, ok := strings.Cut(string(b), ".")
	c := accessCursor{}
	var e1, e2 error
	c.seq, e1 = strconv.ParseInt(seq, 10, 64)
	c.idx, e2 = strconv.Atoi(idx)
	return c, ok && e1 == nil && e2 == nil && c.seq > 0 && c.idx >= 0
}

// findAccess reads stored rows, newest first, and expands them into
// entries until it has f.Limit that the scope allows and knows whether
// more follow, or has looked at a bounded number of rows (the cursor then
// continues after the last one looked at).
func (s *Service) findAccess(ctx context.Context, nc *catalog.Conn, sc *accessScope, f accesslog.Filter, from accessCursor) (*coffer.AccessList, error) {
	limit := f.Limit
	f.Limit = limit + 1
	f.Before = from.seq
	out := &coffer.AccessList{Entries: []*coffer.AccessEntry{}}
	var last, scanned accessCursor
	for round := 0; round < 20; round++ {
		rows, err := accesslog.Find(ctx, s.Core, nc.DB.R, nc.DB.Prefix, f)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			for i, e := range r.Entries(f.Record) {
				if r.Seq == from.seq && i <= from.idx {
					continue
				}
				ok, err := sc.allows(ctx, e)
				if err != nil {
					return nil, err
				}
				if ok && len(out.Entries) == limit {
					cur := last.String()
					out.NextCursor = &cur
					return out, nil
				}
				if ok {
					out.Entries = append(out.Entries, e)
					last = accessCursor{r.Seq, i}
				}
			}
			scanned = accessCursor{r.Seq, 1 << 30} // the whole row
			f.Before = r.Seq - 1
		}
		if len(rows) < f.Limit || f.Before < 1 {
			return out, nil // nothing older
		}
	}
	cur := scanned.String()
	out.NextCursor = &cur
	return out, nil
}

// FindReaders lists who read one record, newest first. The record must
// be visible to the caller, or, once deleted, the caller must have
// access_log on every row of its table.
func (s *Service) FindReaders(ctx context.Context, notebook, table, record string, q coffer.AccessQuery) (*coffer.AccessList, error) {
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return nil, s.Wrap("FindReaders", err)
	}
	defer nc.Release()
	tm, err := nc.Schema.Table(table)
	if err != nil {
		return nil, err
	}
	tp, err := s.Plan(ctx, nc, nc.DB.R, tm)
	if err != nil {
		return nil, s.WrapNotFound("FindReaders", err)
	}
	sc, err := s.newAccessScope(ctx, nc)
	if err != nil {
		return nil, s.Wrap("FindReaders", err)
	}
	if !coffer.ValidID(coffer.PrefixRecord, record) {
		return nil, catalog.ErrRecordNotFound
	}
	if _, err := s.ReadAs(ctx, nc.DB.R, tm, tp, record); err != nil {
		ts := sc.tables[tm.Table.ID]
		if coffer.ErrorCode(err) != coffer.ENOTFOUND || !(sc.full || ts != nil && ts.allRows) {
			return nil, s.WrapNotFound("FindReaders", err)
		}
	}
	if !sc.full && sc.tables[tm.Table.ID] == nil {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "reading who read this record needs the access_log capability")
	}
	q.Kind, q.Table, q.Record = coffer.AccessRecordRead, tm.Table.ID, record
	f, err := s.accessFilter(nc, q)
	if err != nil {
		return nil, err
	}
	from, _ := parseAccessCursor(q.Cursor)
	out, err := s.findAccess(ctx, nc, sc, f, from)
	return out, s.Wrap("FindReaders", err)
}

// noteRead records that the caller read records of a table (by id or
// name): one access record per record.
func (s *Service) noteRead(ctx context.Context, nc *catalog.Conn, table string, recs ...*coffer.Record) {
	if !nc.Schema.Settings.AccessLog || len(recs) == 0 {
		return
	}
	tm, err := nc.Schema.Table(table)
	if err != nil {
		return
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	s.note(ctx, nc, coffer.AccessRecordRead, tm.Table.ID, "", ids...)
}
