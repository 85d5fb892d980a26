package identity

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/auth"
	"github.com/cofferhq/coffer/auth/oidc"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// Single sign-on with OpenID Connect.
//
// Accounts are linked to identities by (issuer, subject), never by e-mail:
// an e-mail address is only trusted to create an account just in time,
// when no account has it yet, the provider says it is verified and its
// domain is one of the organization's SSO domains. An existing account is
// linked only by its owner, logged in, through StartSSOLink.
//
// A login is two steps. StartSSO stores the state (hashed), the nonce, the
// PKCE verifier and the hash of a browser binding in sso_states and
// returns the provider's URL. FinishSSO consumes that row in its own
// transaction (so a state works once, even if the rest fails), talks to
// the provider with no transaction open (a slow provider must not hold
// the database's writer), then links or creates the account and opens the
// session in a second transaction. A refusal is recorded as an sso.failed
// event in a transaction of its own, since the failed one was rolled back.
//
// Sessions opened by SSO are not subject to the organization's 2FA
// requirement: the identity provider is responsible for its own second
// factors (configure MFA there).

// Token prefixes of the login state and the browser binding.
const (
	ssoStatePrefix   = "cfo_"
	ssoBindingPrefix = "cfb_"
)

var errProviderNotFound = coffer.Errorf(coffer.ENOTFOUND, "the single sign-on provider does not exist")

// ssoClient returns the relying party, created on first use with the
// store's clock.
func (s *Service) ssoClient() *oidc.Client {
	s.ssoOnce.Do(func() {
		s.oidc = oidc.New(nil)
		s.oidc.Now = func() time.Time { return s.Now() }
	})
	return s.oidc
}

// ssoProviderRow is a provider with its secret, for logins.
type ssoProviderRow struct {
	coffer.SSOProvider
	secret string
}

func (s *Service) loadSSOProvider(ctx context.Context, q catalog.Querier, id string) (*ssoProviderRow, error) {
	if !coffer.ValidID(coffer.PrefixSSOProvider, id) {
		return nil, errProviderNotFound
	}
	var p ssoProviderRow
	var scopes string
	var created int64
	err := q.QueryRowContext(ctx, s.Rebind("SELECT id, org_id, name, issuer, client_id, client_secret, scopes, created_at FROM "+s.Inst.Prefix+"sso_providers WHERE id = ?"), id).
		Scan(&p.ID, &p.OrgID, &p.Name, &p.Issuer, &p.ClientID, &p.secret, &scopes, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errProviderNotFound
	}
	if err != nil {
		return nil, err
	}
	if p.secret, err = s.Keys.OpenStringIn(ctx, q, keyring.Instance, ssoAAD(p.ID), p.secret); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &p.Scopes); err != nil {
		return nil, fmt.Errorf("provider scopes: %w", err)
	}
	p.CreatedAt = store.FromMicros(created)
	return &p, nil
}

// ssoAAD is the associated data of a provider's sealed client secret.
func ssoAAD(providerID string) string { return "sso:" + providerID }

func (p *ssoProviderRow) config(redirectURI string) oidc.Provider {
	return oidc.Provider{Issuer: p.Issuer, ClientID: p.ClientID, ClientSecret: p.secret, Scopes: p.Scopes, RedirectURI: redirectURI}
}

// oneLine reports whether v is 1 to max characters of valid UTF-8 on one
// line without control characters.
func oneLine(v string, max int) bool {
	if v == "" || !utf8.ValidString(v) || utf8.RuneCountInString(v) > max {
		return false
	}
	return !strings.ContainsFunc(v, unicode.IsControl)
}

func validScope(sc string) bool {
	if sc == "" || len(sc) > 100 {
		return false
	}
	for _, c := range []byte(sc) {
		if c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// CreateSSOProvider adds an OpenID Connect provider to an organization.
// The client secret is stored sealed under the instance's data key.
func (s *Service) CreateSSOProvider(ctx context.Context, orgID string, in coffer.SSOProviderInput) (*coffer.SSOProvider, error) {
	var fields []coffer.FieldError
	var msg string
	if in.Name, msg = coffer.CheckName(in.Name, 100); msg != "" {
		fields = append(fields, coffer.FieldError{Field: "name", Message: msg})
	}
	if len(in.Issuer) > 300 {
		fields = append(fields, coffer.FieldError{Field: "issuer", Message: "must be at most 300 characters"})
	} else if err := oidc.CheckIssuer(in.Issuer); err != nil {
		fields = append(fields, coffer.FieldError{Field: "issuer", Message: err.Error()})
	}
	if !oneLine(in.ClientID, 300) || strings.TrimSpace(in.ClientID) != in.ClientID {
		fields = append(fields, coffer.FieldError{Field: "client_id", Message: "must be 1 to 300 characters without spaces around"})
	}
	if len(in.ClientSecret) > 1000 || (in.ClientSecret != "" && !oneLine(in.ClientSecret, 1000)) {
		fields = append(fields, coffer.FieldError{Field: "client_secret", Message: "must be at most 1000 characters on one line"})
	}
	scopes := []string{}
	if len(in.Scopes) > 20 {
		fields = append(fields, coffer.FieldError{Field: "scopes", Message: "must hold at most 20 scopes"})
	}
	for _, sc := range in.Scopes {
		if !validScope(sc) {
			fields = append(fields, coffer.FieldError{Field: "scopes", Message: "must be scope names (printable ASCII, no spaces)"})
			break
		}
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	if len(in.Scopes) == 0 {
		scopes = append(scopes, oidc.DefaultScopes...)
	}
	if !slices.Contains(scopes, "openid") {
		scopes = append([]string{"openid"}, scopes...)
	}
	if len(fields) > 0 {
		return nil, coffer.Invalid("the single sign-on provider is not valid", fields...)
	}
	raw, _ := json.Marshal(scopes)
	now := s.NowMicros()
	p := &coffer.SSOProvider{ID: coffer.NewID(coffer.PrefixSSOProvider), OrgID: orgID, Name: in.Name, Issuer: in.Issuer,
		ClientID: in.ClientID, Scopes: scopes, CreatedAt: store.FromMicros(now)}
	sealed, err := s.Keys.SealString(ctx, keyring.Instance, ssoAAD(p.ID), in.ClientSecret)
	if err != nil {
		return nil, err
	}
	err = s.Write(ctx, s.Inst, "CreateSSOProvider", func(tx *store.WriteTx) error {
		c, err := s.requireOrgAdmin(ctx, tx, orgID)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.Rebind("SELECT count(*) FROM "+s.Inst.Prefix+"sso_providers WHERE org_id = ? AND name = ?"), orgID, in.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return &coffer.Error{Code: coffer.ECONFLICT, Message: "the organization already has a provider with this name",
				Fields: []coffer.FieldError{{Field: "name", Message: "is already used"}}}
		}
		if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"sso_providers (id, org_id, name, issuer, client_id, client_secret, scopes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
			p.ID, orgID, p.Name, p.Issuer, p.ClientID, sealed, string(raw), now); err != nil {
			return err
		}
		return s.OrgEvent(ctx, tx, orgID, coffer.EventOrgChanged, c.UserID, c.Email, "sso provider added: "+p.ID+" "+p.Issuer)
	})
	if err != nil {
		return nil, err
	}
	s.ssoClient().Forget(p.Issuer)
	return p, nil
}

// ListSSOProviders lists an organization's providers, oldest first.
func (s *Service) ListSSOProviders(ctx context.Context, orgID string) ([]*coffer.SSOProvider, error) {
	out := []*coffer.SSOProvider{}
	err := s.Tx(ctx, s.Inst.R, "ListSSOProviders", func(tx *sql.Tx) error {
		if _, err := s.requireOrgAdmin(ctx, tx, orgID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, s.Rebind("SELECT id FROM "+s.Inst.Prefix+"sso_providers WHERE org_id = ? ORDER BY created_at, id"), orgID)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			p, err := s.loadSSOProvider(ctx, tx, id)
			if err != nil {
				return err
			}
			pub := p.SSOProvider
			out = append(out, &pub)
		}
		return nil
	})
	return out, err
}

// DeleteSSOProvider removes a provider; the identities linked through it
// and the logins in progress go with it (the accounts stay).
func (s *Service) DeleteSSOProvider(ctx context.Context, orgID, providerID string) error {
	var issuer string
	err := s.Write(ctx, s.Inst, "DeleteSSOProvider", func(tx *store.WriteTx) error {
		c, err := s.requireOrgAdmin(ctx, tx, orgID)
		if err != nil {
			return err
		}
		p, err := s.loadSSOProvider(ctx, tx, providerID)
		if err != nil {
			return err
		}
		if p.OrgID != orgID {
			return errProviderNotFound
		}
		issuer = p.Issuer
		for _, t := range []string{"sso_states", "sso_identities", "sso_providers"} {
			col := "provider_id"
			if t == "sso_providers" {
				col = "id"
			}
			if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+t+" WHERE "+col+" = ?"), providerID); err != nil {
				return err
			}
		}
		return s.OrgEvent(ctx, tx, orgID, coffer.EventOrgChanged, c.UserID, c.Email, "sso provider removed: "+providerID)
	})
	if err == nil {
		s.ssoClient().Forget(issuer)
	}
	return err
}

// StartSSO starts a login with a provider.
func (s *Service) StartSSO(ctx context.Context, providerID, redirectURI string) (*coffer.SSOStart, error) {
	return s.startSSO(ctx, "StartSSO", providerID, redirectURI, "")
}

// StartSSOLink starts the linking of a provider's identity to the caller's
// account. Only a session can link (not an API key).
func (s *Service) StartSSOLink(ctx context.Context, providerID, redirectURI string) (*coffer.SSOStart, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if c.SessionID == "" || c.APIKeyID != "" {
		return nil, errSessionRequired
	}
	return s.startSSO(ctx, "StartSSOLink", providerID, redirectURI, c.UserID)
}

func (s *Service) startSSO(ctx context.Context, op, providerID, redirectURI, linkUser string) (*coffer.SSOStart, error) {
	p, err := s.loadSSOProvider(ctx, s.Inst.R, providerID)
	if err != nil {
		return nil, s.Wrap(op, err)
	}
	state, stateHash := auth.NewToken(ssoStatePrefix)
	binding, bindingHash := auth.NewToken(ssoBindingPrefix)
	nonce, _ := auth.NewToken("")
	verifier := oidc.NewVerifier()
	u, err := s.ssoClient().AuthURL(ctx, p.config(redirectURI), state, nonce, verifier)
	if err != nil {
		return nil, &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "the identity provider cannot be reached: try again later", Op: op, Err: err}
	}
	now := s.Now()
	start := &coffer.SSOStart{URL: u, Binding: binding, ExpiresAt: now.Add(coffer.SSOStateLifetime)}
	var link any
	if linkUser != "" {
		link = linkUser
	}
	err = s.Write(ctx, s.Inst, op, func(tx *store.WriteTx) error {
		// Forget the logins that were never finished.
		if _, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"sso_states WHERE expires_at <= ?"), now.UnixMicro()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"sso_states (state_hash, provider_id, nonce, pkce_verifier, redirect_uri, binding_hash, link_user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
			stateHash, p.ID, nonce, verifier, redirectURI, bindingHash, link, now.UnixMicro(), start.ExpiresAt.UnixMicro())
		return err
	})
	if err != nil {
		return nil, err
	}
	return start, nil
}

// ssoRefusal is a refused SSO login: err is what the user gets, reason
// what the sso.failed event records.
type ssoRefusal struct {
	err    *coffer.Error
	reason string
	userID string
	email  string
}

func (r *ssoRefusal) Error() string { return r.err.Error() }

func refuse(reason string) *ssoRefusal {
	return &ssoRefusal{err: coffer.Errorf(coffer.EUNAUTHORIZED, "single sign-on failed (%s): start the login again", reason), reason: reason}
}

// ssoState is a consumed row of sso_states.
type ssoState struct {
	providerID, nonce, verifier, redirectURI string
	bindingHash                              []byte
	linkUser                                 sql.NullString
	expiresAt                                int64
}

// FinishSSO finishes a login at the provider's callback.
func (s *Service) FinishSSO(ctx context.Context, cb coffer.SSOCallback) (*coffer.Session, error) {
	sess, providerID, err := s.finishSSO(ctx, cb)
	var r *ssoRefusal
	if errors.As(err, &r) {
		detail := "reason=" + r.reason
		if providerID != "" {
			detail = "provider=" + providerID + " " + detail
		}
		_ = s.Write(ctx, s.Inst, "FinishSSO", func(tx *store.WriteTx) error {
			return s.Event(ctx, tx, coffer.EventSSOFailed, r.userID, r.email, detail)
		})
		return nil, r.err
	}
	return sess, err
}

func (s *Service) finishSSO(ctx context.Context, cb coffer.SSOCallback) (*coffer.Session, string, error) {
	if !strings.HasPrefix(cb.State, ssoStatePrefix) || len(cb.State) > 100 || len(cb.Code) > 4096 || len(cb.Binding) > 100 {
		return nil, "", refuse("unknown, used or expired login state")
	}
	// 1. Consume the state: whatever happens next, it never works again.
	var st ssoState
	found := false
	err := s.Write(ctx, s.Inst, "FinishSSO", func(tx *store.WriteTx) error {
		hash := auth.HashToken(cb.State)
		err := tx.QueryRowContext(ctx, s.Rebind("SELECT provider_id, nonce, pkce_verifier, redirect_uri, binding_hash, link_user_id, expires_at FROM "+s.Inst.Prefix+"sso_states WHERE state_hash = ?"), hash).
			Scan(&st.providerID, &st.nonce, &st.verifier, &st.redirectURI, &st.bindingHash, &st.linkUser, &st.expiresAt)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		_, err = tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"sso_states WHERE state_hash = ?"), hash)
		return err
	})
	switch {
	case err != nil:
		return nil, "", err
	case !found:
		return nil, "", refuse("unknown, used or expired login state")
	case st.expiresAt <= s.NowMicros():
		return nil, st.providerID, refuse("expired login state")
	case subtle.ConstantTimeCompare(auth.HashToken(cb.Binding), st.bindingHash) != 1:
		return nil, st.providerID, refuse("the login was started in another browser")
	case cb.Error != "":
		return nil, st.providerID, refuse("the identity provider refused: " + sanitizeReason(cb.Error))
	case cb.Code == "":
		return nil, st.providerID, refuse("no authorization code")
	}

	// 2. Exchange and verify, with no transaction open.
	p, err := s.loadSSOProvider(ctx, s.Inst.R, st.providerID)
	if err != nil {
		return nil, st.providerID, s.Wrap("FinishSSO", err)
	}
	id, err := s.ssoClient().Exchange(ctx, p.config(st.redirectURI), cb.Code, st.verifier, st.nonce)
	if err != nil {
		var oe *oidc.Error
		if errors.As(err, &oe) {
			return nil, p.ID, refuse(oe.Reason)
		}
		return nil, p.ID, refuse("ID token refused")
	}
	if id.Issuer != p.Issuer {
		return nil, p.ID, refuse("wrong issuer")
	}

	// 3. Link or create the account, and open the session. A new account
	// needs a password hash: it is computed here, out of the transaction,
	// when the identity is not linked yet.
	var n int
	if err := s.Inst.R.QueryRowContext(ctx, s.Rebind("SELECT count(*) FROM "+s.Inst.Prefix+"sso_identities WHERE issuer = ? AND subject = ?"), id.Issuer, id.Subject).Scan(&n); err != nil {
		return nil, p.ID, s.Wrap("FinishSSO", err)
	}
	unusable := ""
	if n == 0 && !st.linkUser.Valid {
		if unusable, err = unusablePasswordHash(ctx); err != nil {
			return nil, p.ID, s.Wrap("FinishSSO", err)
		}
	}
	var sess *coffer.Session
	err = s.Write(ctx, s.Inst, "FinishSSO", func(tx *store.WriteTx) error {
		var err error
		sess, err = s.ssoAccount(ctx, tx, p, id, st.linkUser.String, unusable)
		return err
	})
	return sess, p.ID, err
}

// sanitizeReason keeps a provider's error code short and printable.
func sanitizeReason(v string) string {
	v = truncate(v, 60)
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e {
			return '_'
		}
		return r
	}, v)
}
