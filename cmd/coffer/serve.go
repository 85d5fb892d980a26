package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/accesslog"
	"github.com/cofferhq/coffer/api"
	"github.com/cofferhq/coffer/firstrun"
	"github.com/cofferhq/coffer/mail"
	"github.com/cofferhq/coffer/notebooks"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/postgres"
	"github.com/cofferhq/coffer/store/sqlite"
	"github.com/cofferhq/coffer/ui"
)

// storeConfig selects the storage: SQLite in dataDir, or PostgreSQL at
// dbURL in the instance schema dbSchema.
type storeConfig struct {
	dataDir  string
	dbURL    string       // postgres:// URL or key=value string; empty = SQLite
	dbSchema string       // instance schema on PostgreSQL; empty = "coffer"
	logger   *slog.Logger // for the backend's background work (live-update listener); nil = none
	keyFile  string       // the master key file (COFFER_MASTER_KEY_FILE); empty = master.key in dataDir
	stderr   io.Writer    // where the warning of a new master key goes; nil = os.Stderr
}

// storeFlags registers the storage flags on fs.
func storeFlags(fs *flag.FlagSet) *storeConfig {
	c := &storeConfig{}
	fs.StringVar(&c.dataDir, "data", env("COFFER_DATA", "./coffer-data"), "data directory (COFFER_DATA)")
	fs.StringVar(&c.dbURL, "db", env("COFFER_DB", ""), "PostgreSQL URL, postgres://… (COFFER_DB); empty = SQLite in --data")
	c.keyFile = os.Getenv("COFFER_MASTER_KEY_FILE")
	fs.StringVar(&c.dbSchema, "db-schema", env("COFFER_DB_SCHEMA", ""), "PostgreSQL schema of the instance (COFFER_DB_SCHEMA; default coffer): several instances, or tests, can share one database")
	return c
}

// where describes the storage for people (never the URL: it may hold a password).
func (c *storeConfig) where() string {
	if c.dbURL == "" {
		return "data in " + c.dataDir
	}
	return "data in PostgreSQL, schema " + c.postgresOptions().Schema
}

// postgresOptions returns the backend options for dbSchema: the defaults
// (instance schema "coffer", notebook schemas "nb_<id>") unless another
// schema is named; then notebook schemas are "<schema>_<id>".
func (c *storeConfig) postgresOptions() postgres.Options {
	if c.dbSchema == "" || c.dbSchema == "coffer" {
		return postgres.Options{Schema: "coffer", Logger: c.logger}
	}
	return postgres.Options{Schema: c.dbSchema, NotebookSchemaPrefix: c.dbSchema + "_", Logger: c.logger}
}

// openStore opens the storage selected by c. On PostgreSQL it refuses a
// server that runs with fsync=off and passes warn what else puts
// acknowledged writes at risk.
func openStore(ctx context.Context, c *storeConfig, warn func(string)) (*all.Store, func() error, error) {
	b, err := openBackend(ctx, c, warn)
	if err != nil {
		return nil, nil, err
	}
	m, err := openMaster(ctx, b, c, c.stderr)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	st, err := all.Open(ctx, b, m)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return st, b.Close, nil
}

// openBackend is openStore's backend.
func openBackend(ctx context.Context, c *storeConfig, warn func(string)) (store.Backend, error) {
	if c.dbURL == "" {
		b, err := sqlite.Open(ctx, c.dataDir, sqlite.Options{})
		if err != nil {
			return nil, err // not a nil *sqlite.Backend in a non-nil interface
		}
		if t := b.Tightened(); len(t) > 0 {
			warn(fmt.Sprintf("the data directory %s held files or folders readable by others; they are now 0600 (files) and 0700 (folders): %s",
				c.dataDir, strings.Join(t, ", ")))
		}
		return b, nil
	}
	b, err := postgres.Open(ctx, c.dbURL, c.postgresOptions())
	if err != nil {
		return nil, err
	}
	warnings, err := b.CheckDurability(ctx)
	if err != nil {
		b.Close()
		return nil, err
	}
	for _, w := range warnings {
		warn(w)
	}
	return b, nil
}

// newAPI wires the store into the HTTP API. sender delivers e-mail (reset
// links, alerts about an account); nil when no SMTP server is configured.
func newAPI(st *all.Store, cfg api.Config, sender *mail.Sender) *api.Server {
	return newAPIWith(st, cfg, sender, api.Services{})
}

// newAPIWith is newAPI with the services wired elsewhere (backups) taken
// from extra.
func newAPIWith(st *all.Store, cfg api.Config, sender *mail.Sender, extra api.Services) *api.Server {
	st.Notify = mail.Notifier(sender, cfg.PublicURL)
	return api.New(api.Services{
		Setup: st, Users: st, Auth: st, Notebooks: st, Tables: st, Records: st, Views: st, Sessions: st, MFA: st, SSO: st, Orgs: st, Accounts: st, Sharing: st, History: st, TimeTravel: st, Undo: st, Live: st, Ping: st.Ping,
		Audit:     st,
		Resets:    mail.NewResets(st, sender, cfg.PublicURL, cfg.Logger),
		AccessLog: st, Watches: st, Secrets: st, Files: st,
		BackupStatus: extra.BackupStatus, BackupNow: extra.BackupNow, Backups: extra.Backups,
	}, cfg)
}

// parseProxies reads a comma-separated list of addresses or CIDR prefixes.
func parseProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxies: %q is not an address or a CIDR prefix", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseServeFlags(args, stderr)
	if err != nil {
		return err
	}
	sc, log := o.store, o.log
	sender, closeMail, err := startMail(o.smtpURL, o.smtpFrom, log)
	if err != nil {
		return err
	}
	defer closeMail()

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	sc.logger, sc.stderr = log, stderr
	if sc.dbURL == "" {
		// One server per data directory (its caches assume no other).
		lock, err := sqlite.LockDir(sc.dataDir, "serve")
		if err != nil {
			return err
		}
		defer lock.Close()
	}
	st, closeStore, err := openStore(ctx, sc, func(w string) {
		log.Warn(w)
		fmt.Fprintf(stdout, "\nWARNING: %s\n\n", w)
	})
	if err != nil {
		return err
	}
	defer closeStore()
	startAccessLog(st, sender, o.webhooksPrivate, log)
	// Deferred after the store's close, so run before it: the waiting
	// access records are written, and deliveries in flight end.
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st.CloseAccessLog(ctx)
	}()
	if sc.dbURL == "" {
		stopControl, err := serveControl(sc.dataDir, st, log)
		if err != nil {
			log.Warn("the command line cannot reach this server (control socket: " + err.Error() + "): commands that change the data directory refuse while it runs")
		} else {
			defer stopControl()
		}
	}
	st.SetListTimeout(o.listTimeout)
	blobs, err := openFiles(ctx, st, o.files, sc.dataDir)
	if err != nil {
		return err
	}
	defer blobs.Close()
	defer startFileCollector(ctx, st, log, o.files.collectEvery)()
	defer startPruner(ctx, st, log, pruneEvery)()
	stopAudit, err := startAuditCheckpoints(ctx, st, sc.dataDir, o.auditEvery, o.auditPeriod, log)
	if err != nil {
		return err
	}
	defer stopAudit() // after the server has drained: the last checkpoint
	n, err := st.CountUsers(ctx)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	if o.publicURL == "" {
		// The listener's real address: with --addr :0 the port is only
		// known now.
		o.publicURL = "http://" + ln.Addr().String()
	}
	if err := st.SetPublicURL(o.publicURL); err != nil {
		log.Warn(err.Error())
	}
	var extra api.Services
	web, err := ui.New()
	if err != nil {
		return fmt.Errorf("the web UI is missing from this build: %w", err)
	}
	cfg := api.Config{Logger: log, TrustedProxies: o.trusted, PublicURL: strings.TrimSuffix(o.publicURL, "/"), MaxStreamsPerUser: o.maxStreams, UI: web,
		MaxFileBytes: o.files.maxFile}
	var setupToken string
	if n == 0 {
		// The one-time setup link: its token only ever goes to stdout,
		// never through the logger.
		var link *firstrun.Link
		link, setupToken = firstrun.New()
		cfg.Setup = link
	}
	stopBackups, err := startBackups(ctx, st, o.backup, sc.dataDir, blobs, sender, cfg.PublicURL, log, &extra)
	if err != nil {
		return err
	}
	defer stopBackups()
	srv := newAPIWith(st, cfg, sender, extra)
	hs := newHTTPServer(srv.Handler(), log)
	fmt.Fprintf(stdout, "Coffer %s listening on http://%s (%s)\n", coffer.Version, ln.Addr(), sc.where())
	if n == 0 {
		printFirstAccount(stdout, sc, firstrun.URL(cfg.PublicURL, setupToken))
	}
	return serveUntilStopped(ctx, hs, ln, srv, log)
}

// serveOptions are the settings of "coffer serve", checked.
type serveOptions struct {
	addr        string
	store       *storeConfig
	log         *slog.Logger
	publicURL   string // http or https, without query or fragment; "" = http://<the listener's address>
	trusted     []netip.Prefix
	smtpURL     string // empty: no e-mail
	smtpFrom    string
	listTimeout time.Duration // positive
	maxStreams  int           // at least 1
	auditEvery  int           // entries between audit checkpoints, at least 1
	auditPeriod time.Duration // time between audit checkpoints, positive
	files       fileOptions
	backup      *backupConfig
	// webhooksPrivate lets watch rules' webhooks reach loopback and
	// private addresses (off by default: server-side request forgery).
	webhooksPrivate bool
}

// parseServeFlags reads and checks the flags of "coffer serve" (each
// defaults to its COFFER_ variable), and makes the logger they ask for.
func parseServeFlags(args []string, stderr io.Writer) (*serveOptions, error) {
	fs := newFlagSet("serve", stderr)
	addr := fs.String("addr", env("COFFER_ADDR", "127.0.0.1:8080"), "listen address (COFFER_ADDR)")
	sc := storeFlags(fs)
	logFormat := fs.String("log-format", env("COFFER_LOG_FORMAT", "text"), "log format: text or json (COFFER_LOG_FORMAT)")
	publicURL := fs.String("public-url", env("COFFER_PUBLIC_URL", ""), "the URL people use to reach this server, for links in e-mails, SSO redirects and passkeys (COFFER_PUBLIC_URL; default http://<addr>)")
	proxies := fs.String("trusted-proxies", env("COFFER_TRUSTED_PROXIES", ""), "comma-separated addresses or CIDR prefixes of reverse proxies whose X-Forwarded-For is believed (COFFER_TRUSTED_PROXIES)")
	smtpURL := fs.String("smtp-url", env("COFFER_SMTP_URL", ""), "SMTP server for e-mail (password reset links): smtp://user:password@host:587?from=coffer@example.com (STARTTLS required) or smtps://… (implicit TLS); tls=none only for a loopback server (COFFER_SMTP_URL; prefer the variable: a flag shows in the process list). Empty: no e-mail, operators reset passwords with \"coffer user reset-password\"")
	queryTimeout := fs.String("query-timeout", env("COFFER_QUERY_TIMEOUT", "10s"), "time budget of a record list and its count, waiting for a read slot included; past it the list is cancelled with 503 query_timeout (COFFER_QUERY_TIMEOUT)")
	maxStreams := fs.Int("max-streams", envInt("COFFER_MAX_STREAMS", 8), "live-update streams one account may hold open at once on this server; beyond it 429 too_many_streams (COFFER_MAX_STREAMS)")
	smtpFrom := fs.String("smtp-from", env("COFFER_SMTP_FROM", ""), "sender address of e-mail, overrides the URL's from parameter (COFFER_SMTP_FROM)")
	auditEvery := fs.Int("audit-checkpoint-entries", envInt("COFFER_AUDIT_CHECKPOINT_ENTRIES", 1000), "sign an audit log checkpoint every this many entries (COFFER_AUDIT_CHECKPOINT_ENTRIES)")
	auditPeriod := fs.String("audit-checkpoint-interval", env("COFFER_AUDIT_CHECKPOINT_INTERVAL", "10m"), "sign an audit log checkpoint this often when there are new entries, and at shutdown (COFFER_AUDIT_CHECKPOINT_INTERVAL)")
	blobURL := fs.String("blob-url", env("COFFER_BLOB_URL", ""), "where file contents go, encrypted: empty for <data>/blobs, file:///absolute/dir, or s3://ACCESS:SECRET@host:port/bucket/prefix (COFFER_BLOB_URL; prefer the variable: a flag shows in the process list)")
	maxFile := fs.String("max-file-size", env("COFFER_MAX_FILE_SIZE", "100MB"), "largest file one upload may hold (COFFER_MAX_FILE_SIZE)")
	maxNotebook := fs.String("max-notebook-files", env("COFFER_MAX_NOTEBOOK_FILES", "10GB"), "total size of the files of one notebook (COFFER_MAX_NOTEBOOK_FILES)")
	maxOwner := fs.String("max-owner-files", env("COFFER_MAX_OWNER_FILES", "50GB"), "total size of the files of all the notebooks one account owns (COFFER_MAX_OWNER_FILES)")
	deletedGrace := fs.String("deleted-files-grace", env("COFFER_DELETED_FILES_GRACE", "168h"), "how long a deleted file's encrypted content is kept, so that undo can bring it back (COFFER_DELETED_FILES_GRACE)")
	bc := backupFlags(fs, true)
	webhooksPrivate := fs.Bool("webhooks-allow-private", env("COFFER_WEBHOOKS_ALLOW_PRIVATE", "") == "true", "let watch rules' webhooks reach loopback and private addresses (COFFER_WEBHOOKS_ALLOW_PRIVATE=true; off by default)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o := &serveOptions{addr: *addr, store: sc, publicURL: *publicURL, smtpURL: *smtpURL, smtpFrom: *smtpFrom, maxStreams: *maxStreams,
		auditEvery: *auditEvery, webhooksPrivate: *webhooksPrivate, backup: bc}
	if err := bc.check(); err != nil {
		return nil, err
	}
	var err error
	if o.auditPeriod, err = time.ParseDuration(*auditPeriod); err != nil || o.auditEvery < 1 || o.auditPeriod <= 0 {
		return nil, fmt.Errorf("--audit-checkpoint-entries must be at least 1 and --audit-checkpoint-interval a positive duration such as 10m")
	}
	o.files = fileOptions{blobURL: *blobURL, collectEvery: time.Hour, uploadGrace: notebooks.DefaultUploadGrace}
	if o.files.maxFile, err = parseSize("max-file-size", *maxFile); err != nil {
		return nil, err
	}
	if o.files.maxNotebook, err = parseSize("max-notebook-files", *maxNotebook); err != nil {
		return nil, err
	}
	if o.files.maxOwner, err = parseSize("max-owner-files", *maxOwner); err != nil {
		return nil, err
	}
	if o.files.deletedGrace, err = time.ParseDuration(*deletedGrace); err != nil || o.files.deletedGrace <= 0 {
		return nil, fmt.Errorf("--deleted-files-grace must be a positive duration such as 168h")
	}
	if o.trusted, err = parseProxies(*proxies); err != nil {
		return nil, err
	}
	o.listTimeout, err = time.ParseDuration(*queryTimeout)
	if err != nil || o.listTimeout <= 0 {
		return nil, fmt.Errorf("--query-timeout must be a positive duration such as 10s or 1m30s")
	}
	if o.maxStreams < 1 {
		return nil, fmt.Errorf("--max-streams must be a whole number of at least 1")
	}
	if u, err := url.Parse(o.publicURL); o.publicURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "") {
		return nil, fmt.Errorf("--public-url must be an http or https URL such as https://coffer.example.com")
	}
	if o.log, err = newLogger(*logFormat, stderr); err != nil {
		return nil, err
	}
	return o, nil
}

// newLogger returns a logger writing to w in format: text or json.
func newLogger(format string, w io.Writer) (*slog.Logger, error) {
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json")
}

// startMail opens the e-mail sender of smtpURL (with smtpFrom as sender
// address when set), or returns a nil sender, with a warning, when no
// SMTP server is configured. closeMail stops the sender, waiting at most
// 10 seconds for mail in flight.
func startMail(smtpURL, smtpFrom string, log *slog.Logger) (sender *mail.Sender, closeMail func(), err error) {
	if smtpURL == "" {
		log.Warn("no SMTP server configured (--smtp-url): password reset e-mails are not sent; operators reset passwords with `coffer user reset-password`")
		return nil, func() {}, nil
	}
	mc, err := mail.ParseURL(smtpURL, smtpFrom)
	if err != nil {
		return nil, nil, fmt.Errorf("--smtp-url: %w", err)
	}
	if sender, err = mail.NewSender(mc, mail.Options{Logger: log}); err != nil {
		return nil, nil, err
	}
	log.Info("e-mail enabled", "smtp", mc.String())
	return sender, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sender.Close(ctx)
	}, nil
}

// newHTTPServer returns the HTTP server of h, with the time and size
// limits of a server exposed to the Internet.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// printFirstAccount tells how to create the first account, on the
// storage of sc, when none exists yet: the one-time setup link to open in
// a browser, or the command line.
func printFirstAccount(stdout io.Writer, sc *storeConfig, setupURL string) {
	storage := "--data " + sc.dataDir
	if sc.dbURL != "" {
		storage = "--db \"$COFFER_DB\""
		if sc.dbSchema != "" {
			storage += " --db-schema " + sc.dbSchema
		}
	}
	fmt.Fprintf(stdout, "\nNo account exists yet; there is no default account. Open this one-time link in a browser to create\n"+
		"the first account, the instance's owner (it works once, for one hour; restart the server for a new one):\n"+
		"  %s\n"+
		"or create it on the command line:\n"+
		"  go run ./cmd/coffer user create %s --email you@example.com --name \"Your Name\" --password-stdin\n"+
		"then type a password of at least 15 characters and press Enter.\n\n", setupURL, storage)
}

// serveUntilStopped serves ln until ctx ends (a signal), then drains srv
// and shuts hs down gracefully, waiting at most 30 seconds for requests
// in flight.
func serveUntilStopped(ctx context.Context, hs *http.Server, ln net.Listener, srv *api.Server, log *slog.Logger) error {
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

// startAccessLog sets up the delivery of watch notifications: e-mail
// through sender (none without an SMTP server), webhooks to public
// addresses only unless allowPrivate.
func startAccessLog(st *all.Store, sender *mail.Sender, allowPrivate bool, log *slog.Logger) {
	opts := accesslog.SenderOptions{AllowPrivate: allowPrivate, Logger: log}
	if sender != nil {
		opts.Mail = func(ctx context.Context, to, subject, text string) error {
			return sender.Send(ctx, mail.Message{To: to, Subject: subject, Text: text, Kind: "watch"})
		}
	}
	if allowPrivate {
		log.Warn("watch rules' webhooks may reach loopback and private addresses (--webhooks-allow-private)")
	}
	st.SetWatchOptions(opts)
	st.SetAccessLogOptions(accesslog.Options{Logger: log})
}
