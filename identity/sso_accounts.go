package identity

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/auth"
	"github.com/cofferhq/coffer/auth/oidc"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// ssoAccount finds, links or creates the account of a verified identity
// and opens its session.
func (s *Service) ssoAccount(ctx context.Context, tx *store.WriteTx, p *ssoProviderRow, id *oidc.Identity, linkUser, unusable string) (*coffer.Session, error) {
	var linked string
	err := tx.QueryRowContext(ctx, s.Rebind("SELECT user_id FROM "+s.Inst.Prefix+"sso_identities WHERE issuer = ? AND subject = ?"), id.Issuer, id.Subject).Scan(&linked)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	open := func(userID string) (*coffer.Session, error) { return s.ssoOpen(ctx, tx, userID) }
	switch {
	case linkUser != "":
		if linked != "" && linked != linkUser {
			r := refuse("this identity is already linked to another account")
			r.userID = linkUser
			return nil, r
		}
		if linked == "" {
			if err := s.linkIdentity(ctx, tx, p, id, linkUser); err != nil {
				return nil, err
			}
			if err := s.OrgEvent(ctx, tx, p.OrgID, coffer.EventSSOLinked, linkUser, "", "provider="+p.ID); err != nil {
				return nil, err
			}
		}
		return open(linkUser)
	case linked != "":
		return open(linked)
	}

	// No account is linked to this identity.
	userID, err := s.ssoNewAccount(ctx, tx, p, id, unusable)
	if err != nil {
		return nil, err
	}
	return open(userID)
}

// ssoOpen opens the session of an account found by single sign-on,
// refused when the account is deactivated.
func (s *Service) ssoOpen(ctx context.Context, tx *store.WriteTx, userID string) (*coffer.Session, error) {
	a, err := s.loadAccount(ctx, tx, userID)
	if errors.Is(err, errBadLogin) {
		r := refuse("the account is deactivated")
		r.userID = userID
		return nil, r
	}
	if err != nil {
		return nil, err
	}
	return s.openSession(ctx, tx, a, "sso", false)
}

// ssoNewAccount creates the account of an identity that no account is
// linked to, when its verified e-mail domain joins the provider's
// organization automatically (never linking by e-mail), and links it.
func (s *Service) ssoNewAccount(ctx context.Context, tx *store.WriteTx, p *ssoProviderRow, id *oidc.Identity, unusable string) (string, error) {
	email, key, ok := normalizeEmail(id.Email)
	if !ok {
		return "", refuse("the identity provider gave no valid e-mail address")
	}
	var existing string
	err := tx.QueryRowContext(ctx, s.Rebind("SELECT id FROM "+s.Inst.Prefix+"users WHERE email_key = ?"), key).Scan(&existing)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	if existing != "" {
		// Never link by e-mail: whoever controls an identity provider
		// could otherwise take over any account with a matching address.
		return "", &ssoRefusal{
			err: coffer.Errorf(coffer.EFORBIDDEN, "an account with this e-mail address already exists but is not linked to this identity provider: "+
				"log in to that account and link the provider from it"),
			reason: "e-mail collision with an unlinked account", userID: existing, email: key,
		}
	}
	domains, err := s.orgSSODomains(ctx, tx, p.OrgID)
	if err != nil {
		return "", err
	}
	_, domain, _ := strings.Cut(key, "@")
	if !slices.Contains(domains, domain) {
		r := &ssoRefusal{err: coffer.Errorf(coffer.EFORBIDDEN, "no account is linked to this identity and its e-mail domain does not join the organization automatically: ask an administrator"),
			reason: "e-mail domain not allowed for just-in-time membership", email: key}
		return "", r
	}
	if !id.EmailVerified {
		r := &ssoRefusal{err: coffer.Errorf(coffer.EFORBIDDEN, "the identity provider has not verified this e-mail address"),
			reason: "e-mail not verified", email: key}
		return "", r
	}
	if unusable == "" {
		// Linked meanwhile, then unlinked: rare enough to ask for a retry.
		return "", refuse("the identity changed during the login")
	}
	userID, err := s.createSSOUser(ctx, tx, email, key, ssoName(id.Name, email), unusable)
	if err != nil {
		return "", err
	}
	if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"org_members (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)"),
		p.OrgID, userID, coffer.OrgMember, s.NowMicros()); err != nil {
		return "", err
	}
	if err := s.OrgEvent(ctx, tx, p.OrgID, coffer.EventMembershipChange, userID, key, "joined "+p.OrgID+" as member at first single sign-on"); err != nil {
		return "", err
	}
	if err := s.linkIdentity(ctx, tx, p, id, userID); err != nil {
		return "", err
	}
	return userID, nil
}

func (s *Service) linkIdentity(ctx context.Context, tx catalog.Querier, p *ssoProviderRow, id *oidc.Identity, userID string) error {
	_, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"sso_identities (issuer, subject, user_id, provider_id, created_at) VALUES (?, ?, ?, ?, ?)"),
		id.Issuer, id.Subject, userID, p.ID, s.NowMicros())
	return err
}

// orgSSODomains returns the lower-cased e-mail domains of an
// organization's policy.
func (s *Service) orgSSODomains(ctx context.Context, q catalog.Querier, orgID string) ([]string, error) {
	var raw string
	err := q.QueryRowContext(ctx, s.Rebind("SELECT policy FROM "+s.Inst.Prefix+"organizations WHERE id = ?"), orgID).Scan(&raw)
	if err != nil {
		return nil, err
	}
	var pol coffer.Policy
	if err := json.Unmarshal([]byte(raw), &pol); err != nil {
		return nil, fmt.Errorf("organization policy: %w", err)
	}
	out := make([]string, 0, len(pol.SSODomains))
	for _, d := range pol.SSODomains {
		out = append(out, strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@")))
	}
	return out, nil
}

// ssoName is the account name from the name claim, or the e-mail's local
// part when the claim is missing or not a one-line name.
func ssoName(name, email string) string {
	name = strings.TrimSpace(name)
	if oneLine(name, 200) {
		return name
	}
	local, _, _ := strings.Cut(email, "@")
	return truncate(local, 200)
}

// unusablePasswordHash hashes 32 random bytes nobody knows: the password
// of an account created by SSO, unusable until its owner sets one through
// a reset.
func unusablePasswordHash(ctx context.Context) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return auth.HashPassword(ctx, hex.EncodeToString(b))
}

// createSSOUser creates an account for a person who logs in by SSO.
func (s *Service) createSSOUser(ctx context.Context, tx catalog.Querier, email, key, name, hash string) (string, error) {
	id := coffer.NewID(coffer.PrefixUser)
	now := s.NowMicros()
	_, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"users (id, email, email_key, name, password_hash, operator, created_at, updated_at, password_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		id, email, key, name, hash, false, now, now, now)
	return id, err
}
