package all

import (
	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/identity"
	"github.com/cofferhq/coffer/notebooks"
	"github.com/cofferhq/coffer/sharing"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// Identity, Notebooks and Sharing name the services embedded in Store.
type (
	Identity  = identity.Service
	Notebooks = notebooks.Service
	Sharing   = sharing.Service
)

// Store implements every coffer service on one Backend: the services,
// built on one core and one catalogue, side by side.
type Store struct {
	*store.Core
	*Identity
	*Notebooks
	*Sharing
}

// Compile-time checks that Store implements every service.
var (
	_ coffer.UserService       = (*Store)(nil)
	_ coffer.AuthService       = (*Store)(nil)
	_ coffer.NotebookService   = (*Store)(nil)
	_ coffer.TableService      = (*Store)(nil)
	_ coffer.RecordService     = (*Store)(nil)
	_ coffer.ViewService       = (*Store)(nil)
	_ coffer.MFAService        = (*Store)(nil)
	_ coffer.SSOService        = (*Store)(nil)
	_ coffer.SharingService    = (*Store)(nil)
	_ coffer.OrgService        = (*Store)(nil)
	_ coffer.AccountService    = (*Store)(nil)
	_ coffer.HistoryService    = (*Store)(nil)
	_ coffer.AuditService      = (*Store)(nil)
	_ coffer.TimeTravelService = (*Store)(nil)
	_ coffer.UndoService       = (*Store)(nil)
	_ coffer.AccessLogService  = (*Store)(nil)
	_ coffer.WatchService      = (*Store)(nil)
)

// The encrypted and password columns' service (notebooks/secret.go).
var _ coffer.SecretColumnService = (*Store)(nil)

// New returns a Store on b.
func New(b store.Backend) *Store {
	core := store.NewCore(b)
	cat := catalog.New(core)
	return &Store{Core: core, Identity: identity.New(cat), Notebooks: notebooks.New(cat), Sharing: sharing.New(cat)}
}

// DropCaches forgets everything this process cached from the databases:
// sessions, the notebook registry, access and notebook schemas. Another
// process that changed the databases (the command line, while a server
// runs) asks for it, so that its change holds at the next request.
func (s *Store) DropCaches() {
	s.Identity.DropSessions()
	s.Identity.Catalog.DropCaches()
}
