package store

import (
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/live"
)

// Store implements the coffer services on a Backend.
type Store struct {
	*Core
	*idSvc
	*nbSvc
	*shSvc
}

// Compile-time checks that Store implements every service.
var (
	_ coffer.UserService     = (*Store)(nil)
	_ coffer.AuthService     = (*Store)(nil)
	_ coffer.NotebookService = (*Store)(nil)
	_ coffer.TableService    = (*Store)(nil)
	_ coffer.RecordService   = (*Store)(nil)
	_ coffer.ViewService     = (*Store)(nil)
	_ coffer.MFAService      = (*Store)(nil)
	_ coffer.SSOService      = (*Store)(nil)
)

// New returns a Store on b.
func New(b Backend) *Store {
	core := &Core{
		b:    b,
		d:    b.Dialect(),
		inst: b.Instance(),
		Now:  func() time.Time { return time.Now().UTC() },
	}
	cat := &Catalog{
		Core:      core,
		nbs:       newSchemaCache(),
		notebooks: newTTLCache[string, *coffer.Notebook](),
		access:    newTTLCache[string, *nbAccess](),
	}
	id := &idSvc{Catalog: cat, auth: newAuthState(), sessions: newTTLCache[string, sessionEntry]()}
	nb := &nbSvc{Catalog: cat, broker: live.NewBroker(0)}
	nb.notifier, _ = b.(Notifier)
	return &Store{Core: core, idSvc: id, nbSvc: nb, shSvc: &shSvc{Catalog: cat}}
}

// DropCaches forgets everything this process cached from the databases:
// sessions, the notebook registry, access and notebook schemas. Another
// process that changed the databases (the command line, while a server
// runs) asks for it, so that its change holds at the next request.
func (s *Store) DropCaches() {
	s.idSvc.dropSessions()
	s.idSvc.Catalog.DropCaches()
}
