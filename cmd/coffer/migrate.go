package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cofferhq/coffer/audit"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/postgres"
	"github.com/cofferhq/coffer/store/sqlite"
	"github.com/cofferhq/coffer/store/transfer"
)

// cmdMigrate copies a whole instance between backends (SQLite data
// directory or PostgreSQL URL, either way), then verifies the copy table by
// table with row counts and checksums.
func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr)
	from := fs.String("from", "", "source: a SQLite data directory or a postgres:// URL (only read)")
	to := fs.String("to", "", "destination, empty: a SQLite data directory or a postgres:// URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || *to == "" || fs.NArg() > 0 {
		return errors.New("migrate: give --from and --to (a SQLite data directory or a postgres:// URL each)")
	}
	if *from == *to {
		return errors.New("migrate: --from and --to are the same")
	}
	src, unlockSrc, err := openMigrateBackend(ctx, *from, true)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer unlockSrc()
	defer src.Close()
	keyFile, err := migrateKeyFile(ctx, src, *from)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	dst, unlockDst, err := openMigrateBackend(ctx, *to, false)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	defer unlockDst()
	defer dst.Close()
	fmt.Fprintf(stdout, "copying %s (%s) to %s (%s)…\n", redactURL(*from), src.Dialect().Name(), redactURL(*to), dst.Dialect().Name())
	if err := transfer.Copy(ctx, src, dst); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "copied; verifying…")
	report, verr := transfer.Verify(ctx, src, dst)
	if report != nil {
		if err := report.Write(stdout); err != nil {
			return err
		}
	}
	if verr != nil {
		return fmt.Errorf("VERIFICATION FAILED, do not use the destination: %w", verr)
	}
	if err := carryMasterKey(*from, *to, keyFile, stdout); err != nil {
		return err
	}
	return carryAuditFiles(*from, *to, stdout)
}

// migrateKeyFile returns the master key file of the source (
// COFFER_MASTER_KEY_FILE, or master.key in a source data directory; ""
// when neither applies). When the source holds data keys, the copy is
// useless without the master keys that wrap them: the file must hold
// them all, or migrate refuses, naming it.
func migrateKeyFile(ctx context.Context, src store.Backend, from string) (string, error) {
	path := os.Getenv("COFFER_MASTER_KEY_FILE")
	if path == "" && !isPostgresURL(from) {
		path = filepath.Join(from, masterKeyFile)
	}
	inst := src.Instance()
	used, err := keyring.MastersInUse(ctx, inst.R, src.Dialect(), inst.Prefix)
	if err != nil {
		return "", fmt.Errorf("read the data keys: %w", err)
	}
	if len(used) == 0 {
		return path, nil
	}
	if path == "" {
		return "", fmt.Errorf("it holds data encrypted under master key %s: set COFFER_MASTER_KEY_FILE to its master key file", strings.Join(used, ", "))
	}
	m, err := keyring.Load(path)
	if err != nil {
		return "", fmt.Errorf("it holds data encrypted under master key %s, and %w", strings.Join(used, ", "), err)
	}
	for _, id := range used {
		if !m.Has(id) {
			return "", fmt.Errorf("the master key file %s does not hold master key %s, which protects the source's encrypted data", path, id)
		}
	}
	return path, nil
}

// carryMasterKey copies the source's master key file into a destination
// data directory (when the source's is master.key in its data directory);
// otherwise it says which file the destination's servers need.
func carryMasterKey(from, to, keyFile string, stdout io.Writer) error {
	if keyFile == "" {
		return nil
	}
	b, err := os.ReadFile(keyFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer clear(b)
	if isPostgresURL(to) || os.Getenv("COFFER_MASTER_KEY_FILE") != "" {
		fmt.Fprintf(stdout, "note: the copy's data keys are wrapped by the master keys in %s: the destination's servers need that file (COFFER_MASTER_KEY_FILE)\n", keyFile)
		return nil
	}
	f, err := os.OpenFile(filepath.Join(to, masterKeyFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("copy %s: %w", masterKeyFile, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("copy %s: %w", masterKeyFile, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("copy %s: %w", masterKeyFile, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("copy %s: %w", masterKeyFile, err)
	}
	fmt.Fprintf(stdout, "copied %s (keep a copy of it somewhere safe)\n", masterKeyFile)
	return nil
}

// carryAuditFiles copies the audit log's signing key and checkpoints file
// (kept outside the database) from a source data directory to a
// destination one, so that "coffer audit verify" passes there; with
// PostgreSQL on either side, it says where they are to be kept.
func carryAuditFiles(from, to string, stdout io.Writer) error {
	if isPostgresURL(from) || isPostgresURL(to) {
		fmt.Fprintf(stdout, "note: the audit log's signing key (%s) and checkpoints (%s) live in the --data directory of the servers, "+
			"not in PostgreSQL: keep them with the destination's servers (coffer audit verify needs them)\n", audit.KeyFile, audit.CheckpointsFile)
		return nil
	}
	for _, name := range []string{audit.KeyFile, audit.CheckpointsFile} {
		b, err := os.ReadFile(filepath.Join(from, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, name), b, 0o600); err != nil {
			return fmt.Errorf("copy %s: %w", name, err)
		}
		fmt.Fprintf(stdout, "copied %s\n", name)
	}
	return nil
}

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// openMigrateBackend opens a data directory or a PostgreSQL database. A source
// must already hold a Coffer instance: opening one never creates it. A
// data directory is locked (see sqlite.LockDir) until unlock: migrate
// refuses a directory that a server or another command holds.
func openMigrateBackend(ctx context.Context, spec string, source bool) (b store.Backend, unlock func(), err error) {
	if isPostgresURL(spec) {
		if source {
			if err := postgresInstanceExists(ctx, spec); err != nil {
				return nil, nil, err
			}
		}
		b, err := postgres.Open(ctx, spec, postgres.Options{})
		if err != nil {
			return nil, nil, err
		}
		return b, func() {}, nil
	}
	if source {
		if _, err := os.Stat(filepath.Join(spec, "coffer.db")); err != nil {
			return nil, nil, fmt.Errorf("%s holds no Coffer instance (no coffer.db): %w", spec, err)
		}
	}
	lock, err := sqlite.LockDir(spec, "migrate")
	if err != nil {
		return nil, nil, fmt.Errorf("%w; stop it before migrating", err)
	}
	sb, err := sqlite.Open(ctx, spec, sqlite.Options{})
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	return sb, func() { lock.Close() }, nil
}

// postgresInstanceExists checks that the database has the instance schema,
// without creating it as opening the backend would.
func postgresInstanceExists(ctx context.Context, url string) error {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return err
	}
	defer db.Close()
	var ok bool
	if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'coffer')").Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s holds no Coffer instance (no schema \"coffer\")", redactURL(url))
	}
	return nil
}

// redactURL hides the password of a URL.
func redactURL(s string) string {
	if !isPostgresURL(s) {
		return s
	}
	scheme, rest, _ := strings.Cut(s, "://")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if user, _, hasPass := strings.Cut(rest[:at], ":"); hasPass {
			return scheme + "://" + user + ":***@" + rest[at+1:]
		}
	}
	return s
}
