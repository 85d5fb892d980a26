package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/audit"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
)

// CheckName validates the name of a notebook, table, column or view.
func CheckName(field, name string) (string, *coffer.FieldError) {
	n, msg := coffer.CheckName(name, 200)
	if msg != "" {
		return "", &coffer.FieldError{Field: field, Message: msg}
	}
	return n, nil
}

// NameKey is the form under which names are unique: case-insensitive.
func NameKey(name string) string { return strings.ToLower(name) }

// ScanNotebook reads a registry row selected with NotebookCols.
func ScanNotebook(row interface{ Scan(...any) error }) (*coffer.Notebook, error) {
	var nb coffer.Notebook
	var created, updated int64
	if err := row.Scan(&nb.ID, &nb.Name, &nb.OwnerID, &created, &updated); err != nil {
		return nil, err
	}
	nb.CreatedAt, nb.UpdatedAt = store.FromMicros(created), store.FromMicros(updated)
	return &nb, nil
}

// NotebookCols are the registry columns that ScanNotebook reads.
const NotebookCols = "id, name, owner_id, created_at, updated_at"

// ErrNotebookNotFound is the answer for a notebook that does not exist for
// the caller.
var ErrNotebookNotFound = coffer.Errorf(coffer.ENOTFOUND, "notebook not found")

// LookupNotebook returns a notebook the caller can see, or ENOTFOUND.
func (s *Catalog) LookupNotebook(ctx context.Context, q Querier, id string) (*coffer.Notebook, error) {
	nb, _, err := s.FindNotebookAccess(ctx, q, id)
	return nb, err
}

// FindNotebookAccess returns a notebook the caller can see and what they
// may do in it, or ENOTFOUND.
func (s *Catalog) FindNotebookAccess(ctx context.Context, q Querier, id string) (*coffer.Notebook, *Rights, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !coffer.ValidID(coffer.PrefixNotebook, id) {
		return nil, nil, ErrNotebookNotFound
	}
	nb, err := ScanNotebook(q.QueryRowContext(ctx, s.Rebind("SELECT "+NotebookCols+" FROM "+s.Inst.Prefix+"notebooks WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, ErrNotebookNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	a, err := s.visible(ctx, q, c, nb)
	return nb, a, err
}

// visible returns what the caller may do in nb, or ENOTFOUND when the
// notebook does not exist for them: no role, no grant, or outside their
// API key's notebooks. They then get exactly the answer of a notebook
// that does not exist.
func (s *Catalog) visible(ctx context.Context, q Querier, c *coffer.Caller, nb *coffer.Notebook, ver ...AccessVersions) (*Rights, error) {
	if !c.CanReach(nb.ID) {
		return nil, ErrNotebookNotFound
	}
	var v AccessVersions
	if len(ver) > 0 {
		v = ver[0]
	}
	a, err := s.NotebookAccess(ctx, q, c, nb, v)
	if err != nil {
		return nil, err
	}
	if !a.visible() {
		return nil, ErrNotebookNotFound
	}
	return a, nil
}

// Conn is an open notebook for one service call.
type Conn struct {
	Notebook *coffer.Notebook
	Rights   *Rights // what the caller may do in it
	DB       *store.DB
	Schema   *Schema
	Release  func()
}

// cachedNotebook is findNotebookAccess through the registry cache, for
// reads (read from the database each time where the database is shared
// and this node does not hear invalidations).
func (s *Catalog) cachedNotebook(ctx context.Context, id string) (*coffer.Notebook, *Rights, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return nil, nil, err
	}
	now := s.Now()
	cache := s.Caches.Usable()
	gen := s.notebooks.Gen()
	if cache {
		if nb, ok := s.notebooks.Get(id, now); ok {
			a, err := s.visible(ctx, s.Inst.R, c, nb)
			return nb, a, err
		}
	}
	if !coffer.ValidID(coffer.PrefixNotebook, id) {
		return nil, nil, ErrNotebookNotFound
	}
	row, err := s.Inst.QueryRow(ctx, s.Rebind("SELECT "+NotebookCols+" FROM "+s.Inst.Prefix+"notebooks WHERE id = ?"), id)
	if err != nil {
		return nil, nil, err
	}
	nb, err := ScanNotebook(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, ErrNotebookNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	if cache {
		s.notebooks.PutIf(id, nb, now, gen)
	}
	a, err := s.visible(ctx, s.Inst.R, c, nb)
	return nb, a, err
}

// ForgetNotebook drops the cached registry row of notebook id.
func (s *Catalog) ForgetNotebook(id string) {
	s.notebooks.Drop(func(k string, _ *coffer.Notebook) bool { return k == id })
	s.shared.Drop(func(k string, _ *sharedNotebook) bool { return k == id })
}

// OpenNotebook checks that the caller can see the notebook, opens its
// database and loads its schema (cached until the next schema change; on
// a shared database, checked against the catalogue's version first).
func (s *Catalog) OpenNotebook(ctx context.Context, id string) (*Conn, error) {
	if sr := coffer.SnapshotReadFrom(ctx); sr != nil && sr.Notebook == id {
		return s.openSnapshot(ctx, sr) // snapshot.go
	}
	if s.Inst.Shared {
		return s.openSharedNotebook(ctx, id)
	}
	nb, acc, err := s.cachedNotebook(ctx, id)
	if err != nil {
		return nil, err
	}
	db, release, err := s.Storage.Notebook(ctx, id)
	if err != nil {
		return nil, err
	}
	sc, err := s.Schemas.get(ctx, s, id, db, -1)
	if err != nil {
		release()
		return nil, err
	}
	return &Conn{Notebook: nb, Rights: acc, DB: db, Schema: sc, Release: release}, nil
}

// openSharedNotebook is openNotebook on a database shared by several nodes,
// where nothing may be cached without a check: the registry row, the
// notebook's schema version and its access versions are read in one query
// (one round trip), or taken from the cache while this node hears the
// invalidations that drop them (sharedState); the cached schema and rights
// are used only if their versions are those.
func (s *Catalog) openSharedNotebook(ctx context.Context, id string) (*Conn, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if !coffer.ValidID(coffer.PrefixNotebook, id) {
		return nil, ErrNotebookNotFound
	}
	db, release, err := s.Storage.Notebook(ctx, id)
	if err != nil {
		return nil, err
	}
	st, cached, err := s.sharedState(ctx, id, db, false)
	var nb coffer.Notebook
	var acc *Rights
	if err == nil {
		nb = st.nb // a copy: the cached one is shared
		acc, err = s.visible(ctx, s.Inst.R, c, &nb, st.ver)
		if cached && coffer.ErrorCode(err) == coffer.ENOTFOUND {
			// Access given on another node a moment ago may not have
			// reached this node's cache yet: a refusal asks the database.
			if st, _, err = s.sharedState(ctx, id, db, true); err == nil {
				nb = st.nb
				acc, err = s.visible(ctx, s.Inst.R, c, &nb, st.ver)
			}
		}
	}
	if err != nil {
		release()
		return nil, err
	}
	sc, err := s.Schemas.get(ctx, s, id, db, st.version)
	if err != nil {
		release()
		return nil, err
	}
	return &Conn{Notebook: &nb, Rights: acc, DB: db, Schema: sc, Release: release}, nil
}

// LookupView finds a view of table tm by id or name. Columns that were
// deleted since the view was saved are left out.
func (s *Catalog) LookupView(ctx context.Context, q Querier, prefix string, tm *TableMeta, idOrName string) (*coffer.View, error) {
	v, err := s.FindViewRaw(ctx, q, prefix, tm, idOrName)
	if err != nil {
		return nil, err
	}
	live := v.Columns[:0]
	for _, id := range v.Columns {
		if tm.Column(id) != nil {
			live = append(live, id)
		}
	}
	v.Columns = live
	return v, nil
}

// FindViewRaw is findView keeping the stored column list as it is. The
// access engine scopes grants with it: a view whose columns were all
// deleted since still limits its grants to those (now no) columns,
// where an empty list would mean every column.
func (s *Catalog) FindViewRaw(ctx context.Context, q Querier, prefix string, tm *TableMeta, idOrName string) (*coffer.View, error) {
	if !utf8.ValidString(idOrName) || strings.ContainsRune(idOrName, 0) {
		return nil, ErrViewNotFound // no view can have this name, and some databases refuse the text
	}
	v, err := ScanView(q.QueryRowContext(ctx, s.Rebind("SELECT "+ViewCols+" FROM "+prefix+"_views WHERE table_id = ? AND (id = ? OR name_key = ?)"),
		tm.Table.ID, idOrName, NameKey(idOrName)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrViewNotFound
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

// ErrViewNotFound is the answer for a view that does not exist.
var ErrViewNotFound = coffer.Errorf(coffer.ENOTFOUND, "view not found")

// ErrUserNotFound and ErrGroupNotFound answer for a principal that does
// not exist.
var (
	ErrUserNotFound  = coffer.Errorf(coffer.ENOTFOUND, "the user does not exist")
	ErrGroupNotFound = coffer.Errorf(coffer.ENOTFOUND, "the group does not exist")
)

// ViewCols are the view columns that ScanView reads.
const ViewCols = "id, table_id, name, filter, sort, columns, created_at, updated_at"

// ScanView reads a view row selected with ViewCols.
func ScanView(row interface{ Scan(...any) error }) (*coffer.View, error) {
	var v coffer.View
	var cols string
	var created, updated int64
	if err := row.Scan(&v.ID, &v.TableID, &v.Name, &v.Filter, &v.Sort, &cols, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(cols), &v.Columns); err != nil {
		return nil, err
	}
	if v.Columns == nil {
		v.Columns = []string{}
	}
	v.CreatedAt, v.UpdatedAt = store.FromMicros(created), store.FromMicros(updated)
	return &v, nil
}

// Catalog is what every service reads of notebooks: the registry, the
// notebooks' schemas and the caller's rights, with their caches.
type Catalog struct {
	*store.Core
	Schemas   *schemaCache
	Audit     *audit.Log                                // the audit log, which Event appends to
	Keys      *keyring.Ring                             // every data key: seals secrets, files, notebook data
	notebooks *store.TTLCache[string, *coffer.Notebook] // registry rows by id
	shared    *store.TTLCache[string, *sharedNotebook]  // by notebook id, on a shared database
	access    *store.TTLCache[string, *Rights]          // by user id | notebook id
	accessGen atomic.Uint64                             // moves on at every change of access
}

// DropCaches forgets what the catalogue cached: the notebook registry,
// access and notebook schemas.
func (s *Catalog) DropCaches() {
	s.notebooks.Drop(func(string, *coffer.Notebook) bool { return true })
	s.ForgetAccess("")
	s.Schemas.invalidateAll()
	s.Keys.Drop()
}

// New returns the catalogue on core, its caches empty, its data keys
// wrapped by m.
func New(core *store.Core, m *keyring.Master) *Catalog {
	s := &Catalog{
		Core:      core,
		Keys:      keyring.New(core, m),
		Schemas:   newSchemaCache(),
		Audit:     audit.New(core),
		notebooks: store.NewSharedTTLCache[string, *coffer.Notebook](core.Inst),
		shared:    store.NewSharedTTLCache[string, *sharedNotebook](core.Inst),
		access:    store.NewSharedTTLCache[string, *Rights](core.Inst),
	}
	s.Keys.Audit = func(ctx context.Context, tx *store.WriteTx, kind, detail string) error {
		return s.Event(ctx, tx, kind, "", "", detail)
	}
	if core.Caches != nil {
		core.Caches.Subscribe(s.invalidate)
	}
	return s
}
