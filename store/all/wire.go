package all

import (
	"context"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/identity"
	"github.com/cofferhq/coffer/keyring"
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
	_ coffer.FileService       = (*Store)(nil)
	_ coffer.BackupService     = (*Store)(nil) // browse and restore snapshots (notebooks/snapshot.go, restore.go)
)

// The encrypted and password columns' service (notebooks/secret.go).
var _ coffer.SecretColumnService = (*Store)(nil)

// New returns a Store on b whose data keys are wrapped by m.
func New(b store.Backend, m *keyring.Master) *Store {
	core := store.NewCore(b)
	cat := catalog.New(core, m)
	return &Store{Core: core, Identity: identity.New(cat), Notebooks: notebooks.New(cat), Sharing: sharing.New(cat)}
}

// Open returns a Store on b whose data keys are wrapped by m, once it
// has checked that m holds every master key that wraps the database's
// data keys, and sealed the secrets that an older version left in clear
// (TOTP and single sign-on client secrets, webhook secrets of watch
// rules). The server and the command line open their store with it.
func Open(ctx context.Context, b store.Backend, m *keyring.Master) (*Store, error) {
	s := New(b, m)
	if err := s.Ring().Check(ctx); err != nil {
		return nil, err
	}
	if _, err := s.Identity.SealClearSecrets(ctx); err != nil {
		return nil, err
	}
	if _, err := s.Notebooks.SealClearWatchSecrets(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Ring returns the keyring: every data key, wrapped by the master key.
func (s *Store) Ring() *keyring.Ring { return s.Identity.Catalog.Keys }

// DropCaches forgets everything this process cached from the databases:
// sessions, the notebook registry, access and notebook schemas. Another
// process that changed the databases (the command line, while a server
// runs) asks for it, so that its change holds at the next request.
func (s *Store) DropCaches() {
	s.Identity.DropSessions()
	s.Identity.Catalog.DropCaches()
}
