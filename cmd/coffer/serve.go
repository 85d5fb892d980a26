package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/api"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/sqlite"
)

// openStore opens the storage selected by the flags.
func openStore(ctx context.Context, dataDir, dbURL string) (*store.Store, func() error, error) {
	if dbURL != "" {
		return nil, nil, errors.New("--db / COFFER_DB: the PostgreSQL backend is not available in this version; leave it empty to use SQLite in --data")
	}
	b, err := sqlite.Open(ctx, dataDir, sqlite.Options{})
	if err != nil {
		return nil, nil, err
	}
	return store.New(b), b.Close, nil
}

// newAPI wires the store into the HTTP API.
func newAPI(st *store.Store, log *slog.Logger) *api.Server {
	return api.New(api.Services{
		Users: st, Auth: st, Notebooks: st, Tables: st, Records: st, Views: st, Ping: st.Ping,
	}, api.Config{Logger: log})
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", env("COFFER_ADDR", "127.0.0.1:8080"), "listen address (COFFER_ADDR)")
	data := fs.String("data", env("COFFER_DATA", "./coffer-data"), "data directory (COFFER_DATA)")
	db := fs.String("db", env("COFFER_DB", ""), "postgres:// URL (COFFER_DB); empty = SQLite in --data")
	logFormat := fs.String("log-format", env("COFFER_LOG_FORMAT", "text"), "log format: text or json (COFFER_LOG_FORMAT)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var log *slog.Logger
	switch *logFormat {
	case "json":
		log = slog.New(slog.NewJSONHandler(stderr, nil))
	case "text":
		log = slog.New(slog.NewTextHandler(stderr, nil))
	default:
		return fmt.Errorf("--log-format must be text or json")
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	st, closeStore, err := openStore(ctx, *data, *db)
	if err != nil {
		return err
	}
	defer closeStore()
	n, err := st.CountUsers(ctx)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := newAPI(st, log)
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stdout, "Coffer %s listening on http://%s (data in %s)\n", coffer.Version, ln.Addr(), *data)
	if n == 0 {
		fmt.Fprintf(stdout, "\nNo account exists yet; there is no default account. Create the first one with:\n"+
			"  go run ./cmd/coffer user create --data %s --email you@example.com --name \"Your Name\" --password-stdin\n"+
			"then type a password of at least 15 characters and press Enter.\n\n", *data)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	srv.Drain()
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
