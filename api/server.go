// Package api serves Coffer's REST API over HTTP: routing, authentication
// of the caller, request decoding with limits, problem+json errors with
// stable codes, security headers, structured request logs and the OpenAPI
// document.
package api

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/colkey"
)

// Services are the domain services the API exposes.
type Services struct {
	Users     coffer.UserService
	Auth      coffer.AuthService
	Notebooks coffer.NotebookService
	Tables    coffer.TableService
	Records   coffer.RecordService
	Views     coffer.ViewService
	Sessions  coffer.SessionService
	MFA       coffer.MFAService
	SSO       coffer.SSOService
	Resets    coffer.PasswordResetService
	Orgs      coffer.OrgService
	Accounts  coffer.AccountService
	Sharing   coffer.SharingService
	History   coffer.HistoryService
	Undo      coffer.UndoService
	// AccessLog and Watches read access records and manage watch rules.
	AccessLog coffer.AccessLogService
	Watches   coffer.WatchService
	Audit     coffer.AuditService
	// TimeTravel reads records at past moments and reverts them
	// (timetravel.go); nil answers those endpoints with not_found.
	TimeTravel coffer.TimeTravelService
	// Files stores and serves the files of file cells; nil answers the
	// file endpoints with not_found.
	Files coffer.FileService
	// Live gives the events of record writes (live updates); nil turns
	// the events endpoint off.
	Live LiveService
	// Setup creates the first account of an empty instance (with
	// Config.Setup); nil refuses every claim.
	Setup coffer.SetupService
	// Secrets unlocks encrypted columns and verifies password cells; nil
	// answers those endpoints with not_found.
	Secrets coffer.SecretColumnService
	// Backups lists, browses (?snapshot=), compares and restores the
	// snapshots of notebooks (backups.go); nil answers those with not_found.
	Backups coffer.BackupService
	// Ping checks storage for /readyz.
	Ping func(ctx context.Context) error
	// BackupStatus reports the state of backups to operators
	// (backup_status.go); nil answers not_found.
	BackupStatus BackupStatusFunc
	// BackupNow starts a backup for operators; nil answers not_found.
	BackupNow BackupNowFunc
}

// Config tunes the server; zero values take the defaults.
type Config struct {
	MaxBodyBytes      int64         // request bodies (default 1 MiB)
	MaxBatchBodyBytes int64         // batch request bodies (default 16 MiB)
	RequestTimeout    time.Duration // per request (default 60 s)
	Logger            *slog.Logger  // default slog.Default()
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client; no proxy is trusted by default.
	TrustedProxies []netip.Prefix
	// PublicURL is the URL people use to reach the server (scheme, host and
	// optional path, no trailing slash): the base of links in e-mails, of
	// SSO redirects and the origin of passkeys.
	PublicURL string
	// MaxStreamsPerUser bounds the live-update streams one account holds
	// open at once on this server (default 8).
	MaxStreamsPerUser int
	// UI serves every path outside /api/ and the health checks (the web
	// UI, package ui); nil answers them not_found.
	UI http.Handler
	// MaxFileBytes bounds the body of an upload (the file, plus
	// MaxUploadOverhead); the service holds the limit itself (default
	// 100 MiB).
	MaxFileBytes int64
	// Setup is the first-run setup link printed by a server started on
	// an empty instance (firstrun.Link); nil: no claim is possible.
	Setup SetupLink
}

// Server is the HTTP API.
type Server struct {
	svc      Services
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	routes   []Route
	draining atomic.Bool
	stopping chan struct{} // closed by Drain: live-update streams end
	drainOne sync.Once

	streamsMu sync.Mutex
	streams   map[string]int // open live-update streams by user id

	unlocks     *colkey.Unlocks // keys of encrypted columns unlocked by sessions
	secretTries *attempts       // unlock and verification attempts
}

// Route is one path of the API with its methods, as documented in OpenAPI.
type Route struct {
	Pattern string   // ServeMux path pattern
	Methods []string // sorted
}

//go:embed openapi.json
var openAPI []byte

// New returns the API server for svc.
func New(svc Services, cfg Config) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.MaxBatchBodyBytes <= 0 {
		cfg.MaxBatchBodyBytes = 16 << 20
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxStreamsPerUser <= 0 {
		cfg.MaxStreamsPerUser = 8
	}
	s := &Server{svc: svc, cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), stopping: make(chan struct{}), streams: map[string]int{},
		unlocks: colkey.NewUnlocks(), secretTries: newAttempts()}
	s.routesInit()
	return s
}

// endpoint is a handler with its authentication requirement.
type endpoint struct {
	h    http.HandlerFunc
	auth bool
	// during lists the session restrictions under which the endpoint stays
	// open (see coffer.Restrict*).
	during []string
	// session: the endpoint manages the account (sessions, API keys,
	// password, second factors, single sign-on, organizations) and needs
	// a signed-in session: API keys reach data, not the account.
	session bool
}

func (ep endpoint) allows(restriction string) bool {
	for _, r := range ep.during {
		if r == restriction {
			return true
		}
	}
	return false
}

func (s *Server) handle(pattern string, methods map[string]endpoint) {
	var names []string
	for m := range methods {
		names = append(names, m)
	}
	sort.Strings(names)
	s.routes = append(s.routes, Route{Pattern: pattern, Methods: names})
	allow0 := names
	if _, ok := methods[http.MethodGet]; ok {
		allow0 = append([]string{http.MethodHead}, names...)
		sort.Strings(allow0)
	}
	allow := strings.Join(allow0, ", ")
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if ri := info(r.Context()); ri != nil {
			ri.route = pattern
		}
		ep, ok := methods[r.Method]
		if !ok && r.Method == http.MethodHead {
			ep, ok = methods[http.MethodGet]
		}
		if !ok {
			w.Header().Set("Allow", allow)
			s.writeProblem(w, r, codeMethod, "this path supports "+allow, nil)
			return
		}
		if ep.auth {
			ctx, err := s.authenticate(r)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if c := coffer.CallerFrom(ctx); ep.session && c.APIKeyID != "" {
				s.writeError(w, r, coffer.Errorf(coffer.ESESSION, "an API key reaches data, not the account: sign in to manage sessions, keys, passwords, second factors and organizations"))
				return
			}
			if err := allowed(coffer.CallerFrom(ctx), r, ep); err != nil {
				s.writeError(w, r, err)
				return
			}
			r = r.WithContext(ctx)
			rk, err := s.withColumnKeys(r)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			r = rk
		}
		rs, release, ok := s.snapshotRead(w, r, pattern) // backups.go
		if !ok {
			return
		}
		defer release()
		ep.h(w, rs)
	})
}

func (s *Server) routesInit() {
	pub := func(h http.HandlerFunc) endpoint { return endpoint{h: h} }
	priv := func(h http.HandlerFunc) endpoint { return endpoint{h: h, auth: true} }
	// any stays open to restricted sessions: what they need to finish
	// their step (log out, see who they are).
	any := func(h http.HandlerFunc) endpoint {
		return endpoint{h: h, auth: true, during: []string{coffer.RestrictEnrol2FA, coffer.RestrictChangePassword}}
	}
	// enrol stays open to a session that must enrol a second factor.
	enrol := func(h http.HandlerFunc) endpoint {
		return endpoint{h: h, auth: true, during: []string{coffer.RestrictEnrol2FA}}
	}
	// account marks an endpoint that manages the account: a session
	// only, never an API key.
	account := func(ep endpoint) endpoint { ep.session = true; return ep }
	const nb = "/api/v1/notebooks/{notebook}"
	const tb = nb + "/tables/{table}"

	s.handle("/healthz", map[string]endpoint{"GET": pub(s.healthz)})
	s.handle("/readyz", map[string]endpoint{"GET": pub(s.readyz)})
	s.handle("/api/v1/openapi.json", map[string]endpoint{"GET": pub(s.openapi)})
	s.handle("/api/v1/setup", map[string]endpoint{"GET": pub(s.setupStatus), "POST": pub(s.claimSetup)})
	s.handle("/api/v1/auth/sign-in-options", map[string]endpoint{"GET": pub(s.signInOptions)})
	s.handle("/api/v1/auth/login", map[string]endpoint{"POST": pub(s.login)})
	s.handle("/api/v1/auth/login/second-factor", map[string]endpoint{"POST": pub(s.secondFactor)})
	s.handle("/api/v1/auth/password-reset", map[string]endpoint{"POST": pub(s.requestPasswordReset)})
	s.handle("/api/v1/auth/password-reset/confirm", map[string]endpoint{"POST": pub(s.confirmPasswordReset)})
	s.handle("/api/v1/auth/logout", map[string]endpoint{"POST": account(any(s.logout))})
	s.handle("/api/v1/auth/me", map[string]endpoint{"GET": any(s.me)})
	s.handle("/api/v1/auth/logout-others", map[string]endpoint{"POST": account(any(s.logoutOthers))})
	s.handle("/api/v1/users/{user}/sessions", map[string]endpoint{"GET": account(any(s.listSessions))})
	s.handle("/api/v1/sessions/{session}", map[string]endpoint{"DELETE": account(any(s.revokeSession))})
	s.handle("/api/v1/users/{user}/api-keys", map[string]endpoint{"GET": account(priv(s.listAPIKeys))})
	s.handle("/api/v1/api-keys", map[string]endpoint{"POST": account(priv(s.createAPIKey))})
	s.handle("/api/v1/api-keys/{key}", map[string]endpoint{"DELETE": account(priv(s.revokeAPIKey))})
	s.handle("/api/v1/auth/mfa", map[string]endpoint{"GET": account(enrol(s.mfaStatus))})
	s.handle("/api/v1/auth/totp", map[string]endpoint{"POST": account(enrol(s.beginTOTP))})
	s.handle("/api/v1/auth/totp/confirm", map[string]endpoint{"POST": account(enrol(s.confirmTOTP))})
	s.handle("/api/v1/auth/totp/disable", map[string]endpoint{"POST": account(priv(s.disableTOTP))})
	s.handle("/api/v1/auth/recovery-codes", map[string]endpoint{"POST": account(priv(s.regenerateRecoveryCodes))})
	s.handle("/api/v1/auth/passkeys", map[string]endpoint{"GET": account(enrol(s.listPasskeys))})
	s.handle("/api/v1/auth/passkeys/{passkey}", map[string]endpoint{"DELETE": account(priv(s.deletePasskey))})
	s.handle("/api/v1/auth/passkeys/register/begin", map[string]endpoint{"POST": account(enrol(s.beginPasskeyRegistration))})
	s.handle("/api/v1/auth/passkeys/register/finish", map[string]endpoint{"POST": account(enrol(s.finishPasskeyRegistration))})
	s.handle("/api/v1/auth/passkeys/login/begin", map[string]endpoint{"POST": pub(s.beginPasskeyLogin)})
	s.handle("/api/v1/auth/passkeys/login/finish", map[string]endpoint{"POST": pub(s.finishPasskeyLogin)})
	s.handle("/api/v1/auth/sso/{provider}/start", map[string]endpoint{"GET": pub(s.ssoStart)})
	s.handle("/api/v1/auth/sso/{provider}/link", map[string]endpoint{"POST": account(priv(s.ssoLink))})
	s.handle(SSOCallbackPath, map[string]endpoint{"GET": pub(s.ssoCallback)})
	s.handle("/api/v1/organizations/{org}/sso-providers", map[string]endpoint{"GET": account(priv(s.listSSOProviders)), "POST": account(priv(s.createSSOProvider))})
	s.handle("/api/v1/organizations/{org}/sso-providers/{provider}", map[string]endpoint{"DELETE": account(priv(s.deleteSSOProvider))})
	s.handle("/api/v1/auth/password", map[string]endpoint{"POST": account(any(s.changePassword))})
	const org = "/api/v1/organizations/{org}"
	s.handle("/api/v1/organizations", map[string]endpoint{"POST": account(priv(s.createOrganization)), "GET": account(priv(s.listOrganizations))})
	s.handle(org, map[string]endpoint{"GET": account(priv(s.getOrganization)), "PATCH": account(priv(s.updateOrganization)), "DELETE": account(priv(s.deleteOrganization))})
	s.handle(org+"/members", map[string]endpoint{"GET": account(priv(s.listOrgMembers))})
	s.handle(org+"/members/{user}", map[string]endpoint{"PUT": account(priv(s.putOrgMember)), "DELETE": account(priv(s.deleteOrgMember))})
	s.handle(org+"/groups", map[string]endpoint{"POST": account(priv(s.createGroup)), "GET": account(priv(s.listGroups))})
	s.handle(org+"/groups/{group}", map[string]endpoint{"PATCH": account(priv(s.updateGroup)), "DELETE": account(priv(s.deleteGroup))})
	s.handle(org+"/groups/{group}/members/{user}", map[string]endpoint{"PUT": account(priv(s.putGroupMember)), "DELETE": account(priv(s.deleteGroupMember))})
	s.handle("/api/v1/audit", map[string]endpoint{"GET": account(priv(s.auditLog))})
	s.handle(org+"/audit", map[string]endpoint{"GET": account(priv(s.orgAuditLog))})
	s.handle("/api/v1/users/{user}/deactivate", map[string]endpoint{"POST": account(priv(s.deactivateUser))})
	s.handle("/api/v1/users/{user}/reactivate", map[string]endpoint{"POST": account(priv(s.reactivateUser))})
	s.handle("/api/v1/notebooks", map[string]endpoint{"POST": priv(s.createNotebook), "GET": priv(s.listNotebooks)})
	s.handle(nb, map[string]endpoint{"GET": priv(s.getNotebook), "PATCH": priv(s.updateNotebook), "DELETE": priv(s.deleteNotebook)})
	s.handle(nb+"/tables", map[string]endpoint{"POST": priv(s.createTable), "GET": priv(s.listTables)})
	s.handle(tb, map[string]endpoint{"GET": priv(s.getTable), "PATCH": priv(s.updateTable), "DELETE": priv(s.deleteTable)})
	s.handle(tb+"/columns", map[string]endpoint{"POST": priv(s.createColumn)})
	s.handle(tb+"/columns/{column}", map[string]endpoint{"PATCH": priv(s.updateColumn), "DELETE": priv(s.deleteColumn)})
	s.handle(tb+"/columns/{column}/unlock", map[string]endpoint{"POST": priv(s.unlockColumn), "DELETE": priv(s.lockColumn)})
	s.handle(tb+"/records/{record}/columns/{column}/verify", map[string]endpoint{"POST": priv(s.verifyCellPassword)})
	s.handle(tb+"/indexes", map[string]endpoint{"POST": priv(s.createIndex), "GET": priv(s.listIndexes)})
	s.handle(tb+"/indexes/{index}", map[string]endpoint{"DELETE": priv(s.deleteIndex)})
	s.handle(tb+"/records", map[string]endpoint{"POST": priv(s.createRecord), "GET": priv(s.listRecords)})
	s.handle(tb+"/events", map[string]endpoint{"GET": pub(s.recordEvents)}) // authenticates itself, after checking Origin
	s.handle(tb+"/records/batch", map[string]endpoint{"POST": priv(s.batchRecords)})
	s.handle(tb+"/records/{record}", map[string]endpoint{"GET": priv(s.getRecord), "PATCH": priv(s.updateRecord), "DELETE": priv(s.deleteRecord)})
	s.handle(tb+"/records/{record}/revert", map[string]endpoint{"POST": priv(s.revertRecord)})
	s.handle(tb+"/revert", map[string]endpoint{"POST": priv(s.revertTable)})
	s.handle(tb+"/views", map[string]endpoint{"POST": priv(s.createView), "GET": priv(s.listViews)})
	s.handle(tb+"/views/{view}", map[string]endpoint{"GET": priv(s.getView), "PATCH": priv(s.updateView), "DELETE": priv(s.deleteView)})
	s.handle(nb+"/members", map[string]endpoint{"GET": priv(s.listMembers)})
	s.handle(nb+"/members/{principal}", map[string]endpoint{"PUT": priv(s.putMember), "DELETE": priv(s.deleteMember)})
	s.handle(nb+"/grants", map[string]endpoint{"POST": priv(s.createGrant), "GET": priv(s.listGrants)})
	s.handle(nb+"/grants/{grant}", map[string]endpoint{"GET": priv(s.getGrant), "PATCH": priv(s.updateGrant), "DELETE": priv(s.deleteGrant)})
	s.handle(nb+"/access/explain", map[string]endpoint{"GET": priv(s.explainAccess)})
	s.handle(nb+"/access-log", map[string]endpoint{"GET": priv(s.listAccess)})
	s.handle(nb+"/access-log/export", map[string]endpoint{"GET": priv(s.exportAccess)})
	s.handle(tb+"/records/{record}/readers", map[string]endpoint{"GET": priv(s.listReaders)})
	s.handle(nb+"/watches", map[string]endpoint{"POST": priv(s.createWatch), "GET": priv(s.listWatches)})
	s.handle(nb+"/watches/{watch}", map[string]endpoint{"GET": priv(s.getWatch), "PATCH": priv(s.updateWatch), "DELETE": priv(s.deleteWatch)})
	s.handle(nb+"/watches/{watch}/deliveries", map[string]endpoint{"GET": priv(s.listWatchDeliveries)})
	s.handle(nb+"/watches/{watch}/test", map[string]endpoint{"POST": priv(s.testWatch)})
	s.handle(nb+"/settings", map[string]endpoint{"GET": priv(s.getSettings), "PATCH": priv(s.updateSettings)})
	s.handle(nb+"/history", map[string]endpoint{"GET": priv(s.notebookHistory)})
	s.handle(nb+"/history/export", map[string]endpoint{"GET": priv(s.exportHistory)})
	s.handle(nb+"/history/size", map[string]endpoint{"GET": priv(s.historySize)})
	s.handle(tb+"/records/{record}/history", map[string]endpoint{"GET": priv(s.recordHistory)})
	s.handle(nb+"/snapshots", map[string]endpoint{"GET": priv(s.listSnapshots)})
	s.handle(nb+"/snapshots/{snapshot}", map[string]endpoint{"GET": priv(s.getSnapshot)})
	s.handle(tb+"/compare", map[string]endpoint{"GET": priv(s.compareTable)})
	s.handle(tb+"/records/{record}/compare", map[string]endpoint{"GET": priv(s.compareRecord)})
	s.handle(nb+"/restore", map[string]endpoint{"POST": priv(s.restore)})
	s.handle("/api/v1/restores/{restore}", map[string]endpoint{"GET": priv(s.getRestore)})
	s.handle(nb+"/undo", map[string]endpoint{"POST": priv(s.undo)})
	s.handle(nb+"/redo", map[string]endpoint{"POST": priv(s.redo)})
	s.handle(tb+"/trash", map[string]endpoint{"GET": priv(s.listTrash)})
	s.handle(tb+"/trash/{record}/restore", map[string]endpoint{"POST": priv(s.restoreRecord)})
	s.handle(nb+"/trash", map[string]endpoint{"GET": priv(s.listSchemaTrash)})
	s.handle(nb+"/trash/columns/{column}/restore", map[string]endpoint{"POST": priv(s.restoreColumn)})
	s.handle(nb+"/trash/tables/{table}/restore", map[string]endpoint{"POST": priv(s.restoreTable)})
	fs := s.withFiles
	s.handle(tb+"/records/{record}/files/{column}", map[string]endpoint{"POST": priv(fs(s.uploadFile))})
	s.handle("/api/v1/files/{file}", map[string]endpoint{"DELETE": priv(fs(s.deleteFile))})
	s.handle("/api/v1/files/{file}/links", map[string]endpoint{"POST": priv(fs(s.createFileLink)), "GET": priv(fs(s.listFileLinks))})
	s.handle("/api/v1/files/{file}/links/{link}", map[string]endpoint{"DELETE": priv(fs(s.deleteFileLink))})
	s.handle("/files/{file}", map[string]endpoint{"GET": priv(fs(s.downloadFile))})
	s.handle("/f/{token}", map[string]endpoint{"GET": pub(fs(s.downloadLink))})
	s.handle("/api/v1/backups/status", map[string]endpoint{"GET": account(priv(s.backupStatus))})
	s.handle("/api/v1/backups/runs", map[string]endpoint{"POST": account(priv(s.backupNow))})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.UI != nil && r.URL.Path != "/api" && !strings.HasPrefix(r.URL.Path, "/api/") {
			if ri := info(r.Context()); ri != nil {
				ri.route = "ui"
			}
			s.cfg.UI.ServeHTTP(w, r)
			return
		}
		s.writeProblem(w, r, coffer.ENOTFOUND, "no such endpoint", nil)
	})
}

// Routes returns the API's paths and methods, for documentation tests.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// Handler returns the HTTP handler with every middleware applied.
func (s *Server) Handler() http.Handler {
	return s.withRequestLog(s.withRecover(s.withHeaders(s.withCSRF(s.mux))))
}

// withCSRF refuses cross-origin browser requests with unsafe methods
// (Sec-Fetch-Site, or Origin against Host), so the session cookie cannot be
// used by another site. Clients that send no such headers (API clients with
// a bearer key) are not affected.
func (s *Server) withCSRF(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeProblem(w, r, coffer.EFORBIDDEN, "cross-origin request refused", nil)
	}))
	return cop.Handler(next)
}

// Drain makes /readyz fail so load balancers stop sending traffic before shutdown.
// It also ends the live-update streams, which would otherwise hold a
// graceful shutdown until its deadline.
func (s *Server) Drain() {
	s.draining.Store(true)
	s.drainOne.Do(func() { close(s.stopping) })
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		s.writeProblem(w, r, coffer.EUNAVAILABLE, "shutting down", nil)
		return
	}
	if s.svc.Ping != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.svc.Ping(ctx); err != nil {
			s.log.Warn("readiness check failed", "error", err.Error())
			s.writeProblem(w, r, coffer.EUNAVAILABLE, "storage is not ready", nil)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(openAPI)
}
