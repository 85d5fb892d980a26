package storetest

// The secrets fixture: every secret the product keeps, made through the services, and the proofs that each still works.

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/bloburl"
	"github.com/cofferhq/coffer/colkey"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/notebooks"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/all"
)

// secretsFixture is an instance with the three kinds of secrets at rest:
// a user with TOTP, an organization's SSO provider, a watch rule with a
// webhook.
type secretsFixture struct {
	s          *all.Store
	clock      *stepClock
	user       *coffer.User
	totp       string // the TOTP secret
	op         string // the provider's URL
	ssoSecret  string
	provider   string
	nb, table  string
	watch      *coffer.Watch
	rc         *receiver
	ownerCtx   context.Context
	deliveries int
	hashed     []string // recovery codes, a session key, an API key: stored only as hashes

	// The notebook's own secrets: a file (its content sealed under a key
	// the notebook's data key wraps), an encrypted cell (its column
	// password never stored) and a password cell (stored as a hash).
	blobs                  blob.Store
	blobDir                string // the local blob store's directory
	vault, record          string // a table apart from the watched one, and its record
	fileID, fileContent    string
	encColumn, colPassword string
	encPlain, cellPassword string
}

// newSecretsFixture makes the secrets through the services of s.
func newSecretsFixture(t *testing.T, s *all.Store) *secretsFixture {
	t.Helper()
	f := &secretsFixture{s: s, clock: &stepClock{}, ssoSecret: "sso-" + rand.Text()}
	f.clock.Freeze()
	s.Now = f.clock.Now
	s.SetWatchOptions(fastRetries())
	ctx, u := MustUser(t, s)
	f.user = u
	res, err := s.Login(context.Background(), u.Email, TestPassword)
	if err != nil || res.Session == nil {
		t.Fatalf("Login: %v", err)
	}
	c, err := s.Authenticate(context.Background(), res.Key)
	if err != nil {
		t.Fatal(err)
	}
	sctx := coffer.WithCaller(context.Background(), c)
	key, err := s.CreateAPIKey(sctx, coffer.APIKeyInput{Name: "script"})
	if err != nil {
		t.Fatal(err)
	}
	f.hashed = append(f.hashed, res.Key, key.Key)
	e, err := s.BeginTOTP(sctx, TestPassword)
	if err != nil {
		t.Fatal(err)
	}
	f.totp = e.Secret
	codes, err := s.ConfirmTOTP(sctx, TOTPCode(t, e.Secret, f.clock.Now(), 0))
	if err != nil {
		t.Fatal(err)
	}
	f.hashed = append(f.hashed, codes...)
	f.clock.Steps(2)

	srv := startMiniOP(t, f.ssoSecret)
	f.op = srv.URL
	org := coffer.NewID(coffer.PrefixOrg)
	inst := s.Storage.Instance()
	now := time.Now().UnixMicro()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO " + inst.Prefix + "organizations (id, name, policy, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
			[]any{org, "Acme " + org, `{"sso_domains":["acme.test"]}`, now, now}},
		{"INSERT INTO " + inst.Prefix + "org_members (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
			[]any{org, u.ID, coffer.OrgOwner, now}},
	} {
		if _, err := inst.W.ExecContext(context.Background(), s.Rebind(q.sql), q.args...); err != nil {
			t.Fatal(err)
		}
	}
	adminCtx := coffer.WithCaller(context.Background(), &coffer.Caller{UserID: u.ID, Email: u.Email, SessionID: "ses_test"})
	p, err := s.CreateSSOProvider(adminCtx, org, coffer.SSOProviderInput{Name: "Mini", Issuer: srv.URL, ClientID: "mini-client", ClientSecret: f.ssoSecret})
	if err != nil {
		t.Fatal(err)
	}
	f.provider = p.ID

	f.ownerCtx = ctx
	f.nb = MustNotebook(t, ctx, s, "Keys").ID
	f.table = MustTable(t, ctx, s, f.nb, "People", col("Name", coffer.TypeText)).ID
	f.addCellSecrets(t, ctx)
	f.rc = newReceiver(t)
	w, err := s.CreateWatch(ctx, f.nb, coffer.WatchInput{Table: ptr("People"), Events: &[]string{"change"}, WebhookURL: ptr(f.rc.srv.URL + "/hook")})
	if err != nil {
		t.Fatalf("CreateWatch: %v", err)
	}
	f.watch = w
	f.rc.mu.Lock()
	f.rc.secret = w.Secret
	f.rc.mu.Unlock()
	return f
}

// addCellSecrets stores a file, an encrypted cell and a password cell in
// a record of a table of their own (the watch rule follows the other),
// the files on a local blob store of their own (f.blobDir).
func (f *secretsFixture) addCellSecrets(t *testing.T, ctx context.Context) {
	t.Helper()
	s := f.s
	f.blobDir = t.TempDir()
	b, err := bloburl.Open(ctx, "", f.blobDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	f.blobs = b
	s.SetFiles(notebooks.FileConfig{Blobs: b})
	f.colPassword = "column-password-" + rand.Text()
	f.encPlain = "encrypted-cell-" + rand.Text()
	f.cellPassword = "cell-password-" + rand.Text()
	f.fileContent = strings.Repeat("file-content-"+rand.Text()+"\n", 3)
	vault := MustTable(t, ctx, s, f.nb, "Vault", col("Name", coffer.TypeText),
		coffer.ColumnInput{Name: "Secret", Type: coffer.TypeEncrypted, Options: coffer.ColumnOptions{Password: f.colPassword}},
		col("Login", coffer.TypePassword), col("Files", coffer.TypeFile))
	f.vault, f.encColumn = vault.ID, vault.Column("Secret").ID
	keyed := colkey.WithRequest(ctx, map[string]string{f.encColumn: f.colPassword}, nil)
	r := MustRecord(t, keyed, s, f.nb, f.vault, map[string]any{"Name": "n", "Secret": f.encPlain, "Login": f.cellPassword})
	f.record = r.ID
	file, err := s.UploadFile(ctx, f.nb, f.vault, r.ID, "Files", coffer.FileUpload{Name: "notes.txt", Body: strings.NewReader(f.fileContent)})
	if err != nil {
		t.Fatalf("UploadFile: %v", err)
	}
	f.fileID = file.ID
}

// checkCellSecrets proves, through s, that the file downloads whole, the
// encrypted cell opens with its column password and the password cell
// verifies.
func (f *secretsFixture) checkCellSecrets(t *testing.T, s *all.Store) {
	t.Helper()
	s.SetFiles(notebooks.FileConfig{Blobs: f.blobs})
	ctx := f.ownerCtx
	d, err := s.OpenFile(ctx, f.fileID, 0, -1)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	var got strings.Builder
	_, err = io.Copy(&got, d.Body)
	d.Body.Close()
	if err != nil || got.String() != f.fileContent {
		t.Fatalf("the file reads %q (%v), want %q", got.String(), err, f.fileContent)
	}
	keyed := colkey.WithRequest(ctx, map[string]string{f.encColumn: f.colPassword}, nil)
	r, err := s.FindRecord(keyed, f.nb, f.vault, f.record)
	if err != nil || r.Fields["Secret"] != f.encPlain {
		t.Fatalf("the encrypted cell reads %v (%v), want %q", r.Fields["Secret"], err, f.encPlain)
	}
	if ok, err := s.VerifyCellPassword(ctx, f.nb, f.vault, f.record, "Login", f.cellPassword); err != nil || !ok {
		t.Fatalf("VerifyCellPassword = %v, %v; want true", ok, err)
	}
}

// plaintexts are the secrets that must never be stored in clear: the
// sealed ones, the hashed ones, and the notebook's file, encrypted cell,
// column password and password cell.
func (f *secretsFixture) plaintexts() []string {
	return append([]string{f.totp, f.ssoSecret, f.watch.Secret, f.fileContent, f.encPlain, f.colPassword, f.cellPassword}, f.hashed...)
}

// check proves, through s, that every secret still works: a TOTP login,
// a single sign-on login (the provider checks the client secret) and a
// webhook whose receiver verifies the signature.
func (f *secretsFixture) check(t *testing.T, s *all.Store) {
	t.Helper()
	s.Now = f.clock.Now
	s.SetWatchOptions(fastRetries())
	f.clock.Steps(2)
	ctx := context.Background()
	res, err := s.Login(ctx, f.user.Email, TestPassword)
	if err != nil || res.Challenge == nil {
		t.Fatalf("Login: %v, want a challenge", err)
	}
	if _, err := s.SecondFactor(ctx, res.Challenge.Token, coffer.FactorTOTP, TOTPCode(t, f.totp, f.clock.Now(), 0)); err != nil {
		t.Fatalf("TOTP login: %v", err)
	}

	start, err := s.StartSSO(ctx, f.provider, "http://127.0.0.1:1/api/v1/auth/sso/callback")
	if err != nil {
		t.Fatalf("StartSSO: %v", err)
	}
	hres, err := noFollow.Get(start.URL)
	if err != nil {
		t.Fatal(err)
	}
	hres.Body.Close()
	loc, err := url.Parse(hres.Header.Get("Location"))
	if err != nil || hres.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %v %d", err, hres.StatusCode)
	}
	if _, err := s.FinishSSO(ctx, coffer.SSOCallback{State: loc.Query().Get("state"), Code: loc.Query().Get("code"), Binding: start.Binding}); err != nil {
		t.Fatalf("single sign-on login: %v", err)
	}

	if _, err := s.TestWatch(f.ownerCtx, f.nb, f.watch.ID); err != nil {
		t.Fatalf("TestWatch: %v", err)
	}
	f.deliveries++
	ds := waitDeliveries(t, s, f.ownerCtx, f.nb, f.watch.ID, f.deliveries)
	for _, d := range ds {
		if d.Status != coffer.DeliveryDelivered {
			t.Fatalf("delivery %+v, want delivered (the receiver verifies the signature)", d)
		}
	}
	if got := f.rc.delivered(); len(got) != f.deliveries {
		t.Fatalf("receiver accepted %d signed deliveries, want %d", len(got), f.deliveries)
	}
	f.checkCellSecrets(t, s)
}

// stored returns the three secrets as stored in the databases.
func (f *secretsFixture) stored(t *testing.T, b store.Backend) (totp, sso, watch string) {
	t.Helper()
	ctx := context.Background()
	inst := b.Instance()
	if err := inst.R.QueryRowContext(ctx, b.Dialect().Rebind("SELECT secret FROM "+inst.Prefix+"totp_secrets WHERE user_id = ?"), f.user.ID).Scan(&totp); err != nil {
		t.Fatal(err)
	}
	if err := inst.R.QueryRowContext(ctx, b.Dialect().Rebind("SELECT client_secret FROM "+inst.Prefix+"sso_providers WHERE id = ?"), f.provider).Scan(&sso); err != nil {
		t.Fatal(err)
	}
	db, release, err := b.Notebook(ctx, f.nb)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := db.R.QueryRowContext(ctx, b.Dialect().Rebind("SELECT secret FROM "+db.Prefix+"_watches WHERE id = ?"), f.watch.ID).Scan(&watch); err != nil {
		t.Fatal(err)
	}
	return totp, sso, watch
}

// deviceKey returns the device-cookie key as stored, and opened.
func deviceKey(t *testing.T, s *all.Store) (stored, key []byte) {
	t.Helper()
	inst := s.Storage.Instance()
	if err := inst.R.QueryRow(s.Rebind("SELECT value FROM "+inst.Prefix+"instance_secrets WHERE name = ?"), "device_cookie").Scan(&stored); err != nil {
		t.Fatalf("the device key: %v", err)
	}
	key, err := s.Ring().Open(context.Background(), keyring.Instance, "instance_secret:device_cookie", stored)
	if err != nil || len(key) != 32 {
		t.Fatalf("the device key does not open (%d bytes): %v", len(key), err)
	}
	return stored, key
}

// KeysPlaintexts makes the secrets that are sealed at rest (a TOTP
// secret, an SSO client secret, a webhook secret, a file's content, an
// encrypted cell) and those stored only as hashes or not at all (recovery
// codes, a session key, an API key, a password cell, an encrypted
// column's password) through the services of a store on b, and returns
// them in clear, for the backend's tests to scan its storage and blobDir
// (where the files went) for; control is a value stored in clear (the
// user's e-mail address), which the scan must find.
func KeysPlaintexts(t *testing.T, b store.Backend) (secrets []string, control, blobDir string) {
	s := all.New(b, keyring.ForTests())
	f := newSecretsFixture(t, s)
	f.check(t, s)
	_, dev := deviceKey(t, s)
	secrets = f.plaintexts()
	// Byte strings may be stored as BLOB or bytea: look for their hex form
	// too (PostgreSQL prints bytea as hex).
	for _, p := range append(secrets, string(dev)) {
		secrets = append(secrets, fmt.Sprintf("%x", p))
	}
	return append(secrets, string(dev)), f.user.Email, f.blobDir
}
