package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/api"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/postgres"
)

// benchEnv is a real Coffer server on a temporary data directory, with one
// account, one notebook and one table of 8 columns, and an HTTP client
// logged in to it.
type benchEnv struct {
	dataDir string
	store   storeConfig
	backend store.Backend
	st      *all.Store
	hs      *http.Server
	base    string // http://127.0.0.1:port/api/v1
	client  *benchClient

	userID   string
	email    string
	password string
	session  string // session key of client
	notebook string
	table    *coffer.Table
	records  string   // URL of the table's records
	sample   []string // ids of loaded records, for random gets and updates
}

// benchColumns is the table the bench loads: one column of each common type.
var benchColumns = []coffer.ColumnInput{
	{Name: "Name", Type: coffer.TypeText},
	{Name: "Age", Type: coffer.TypeNumber},
	{Name: "Score", Type: coffer.TypeNumber, Options: coffer.ColumnOptions{Precision: 2}},
	{Name: "Team", Type: coffer.TypeSingleSelect, Options: coffer.ColumnOptions{Choices: benchTeams}},
	{Name: "Active", Type: coffer.TypeBoolean},
	{Name: "Born", Type: coffer.TypeDate},
	{Name: "Email", Type: coffer.TypeEmail},
	{Name: "Seen", Type: coffer.TypeDateTime},
}

var benchTeams = []string{"red", "green", "blue", "yellow"}

// startBenchEnv creates the data directory under parent (not os.TempDir:
// fsync costs differ between filesystems), starts the server and sets up
// the account, notebook and table. With dbURL the data goes to PostgreSQL
// instead, in an instance schema of the bench's own, dropped at the end.
func startBenchEnv(ctx context.Context, parent string, concurrency int, dbURL string, warn func(string)) (_ *benchEnv, err error) {
	dir, err := os.MkdirTemp(parent, "coffer-bench-")
	if err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	e := &benchEnv{dataDir: dir, store: storeConfig{dataDir: dir}}
	if dbURL != "" {
		e.store.dbURL = dbURL
		e.store.dbSchema = "coffer_bench_" + strings.ToLower(rand.Text()[:10])
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, e.close())
		}
	}()
	if e.backend, err = openBackend(ctx, &e.store, warn); err != nil {
		return nil, err
	}
	master, err := keyring.Generate()
	if err != nil {
		return nil, err
	}
	e.st = all.New(e.backend, master)
	if err := e.startServer(); err != nil {
		return nil, err
	}
	e.client = newBenchClient(concurrency)
	if err := e.setup(ctx); err != nil {
		return nil, fmt.Errorf("bench setup: %w", err)
	}
	return e, nil
}

// startServer serves the API on 127.0.0.1:0 as coffer serve does. Request
// logs are formatted as in production but discarded.
func (e *benchEnv) startServer() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e.hs = &http.Server{
		Handler:           newAPI(e.st, api.Config{Logger: log, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, nil).Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	go e.hs.Serve(ln)
	e.base = "http://" + ln.Addr().String() + "/api/v1"
	return nil
}

// setup creates the account in the store (as coffer user create does),
// then logs in and creates the notebook and table over HTTP.
func (e *benchEnv) setup(ctx context.Context) error {
	pw := make([]byte, 16)
	rand.Read(pw)
	password := "bench-" + hex.EncodeToString(pw)
	const email = "bench@example.com"
	u, err := e.st.CreateUser(ctx, coffer.UserInput{Email: email, Name: "Bench", Password: password})
	if err != nil {
		return err
	}
	e.userID, e.email, e.password = u.ID, email, password
	var sess coffer.Session
	if err := e.client.json(ctx, "POST", e.base+"/auth/login", map[string]string{"email": email, "password": password}, http.StatusOK, &sess); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	e.client.auth = "Bearer " + sess.Key
	e.session = sess.Key
	var nb coffer.Notebook
	if err := e.client.json(ctx, "POST", e.base+"/notebooks", map[string]string{"name": "Bench"}, http.StatusCreated, &nb); err != nil {
		return fmt.Errorf("create notebook: %w", err)
	}
	e.notebook = nb.ID
	var t coffer.Table
	in := coffer.TableInput{Name: "People", Columns: benchColumns}
	if err := e.client.json(ctx, "POST", e.base+"/notebooks/"+nb.ID+"/tables", in, http.StatusCreated, &t); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	if len(t.Columns) != len(benchColumns) {
		return fmt.Errorf("create table: got %d columns, want %d", len(t.Columns), len(benchColumns))
	}
	e.table = &t
	e.records = e.base + "/notebooks/" + nb.ID + "/tables/" + t.ID + "/records"
	return nil
}

// notebookFile is the SQLite file of the bench notebook.
func (e *benchEnv) notebookFile() string {
	return filepath.Join(e.dataDir, "notebooks", e.notebook+".db")
}

// dropBenchSchemas drops the instance and notebook schemas of the bench.
func dropBenchSchemas(b *postgres.Backend, opts postgres.Options) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := b.Pool().QueryContext(ctx, "SELECT nspname FROM pg_namespace WHERE nspname = $1 OR starts_with(nspname, $2)", opts.Schema, opts.NotebookSchemaPrefix)
	if err != nil {
		return err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		names = append(names, `"`+n+`"`)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(names) == 0 {
		return err
	}
	_, err = b.Pool().ExecContext(ctx, "DROP SCHEMA "+strings.Join(names, ", ")+" CASCADE")
	return err
}

// close stops the server, closes the store and deletes the data directory.
func (e *benchEnv) close() error {
	var errs []error
	if e.hs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, e.hs.Shutdown(ctx))
		cancel()
	}
	if e.client != nil {
		e.client.hc.CloseIdleConnections()
	}
	if e.backend != nil {
		if pg, ok := e.backend.(*postgres.Backend); ok {
			errs = append(errs, dropBenchSchemas(pg, e.store.postgresOptions()))
		}
		errs = append(errs, e.backend.Close())
	}
	errs = append(errs, os.RemoveAll(e.dataDir))
	return errors.Join(errs...)
}
