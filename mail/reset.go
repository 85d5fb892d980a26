package mail

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cofferhq/coffer"
)

// Resets is the password reset service: the store issues tickets, Resets
// e-mails them. The token goes only into the message; the caller (the
// HTTP API) only ever learns nil or ETOOMANY.
type Resets struct {
	store     coffer.PasswordResetStore
	sender    *Sender // nil: no SMTP server configured
	publicURL string
	log       *slog.Logger
	warnOnce  sync.Once
}

var _ coffer.PasswordResetService = (*Resets)(nil)

// NewResets returns the reset service. sender may be nil when no SMTP
// server is configured: requests are then recorded (events, alerts) and
// answered as usual, but no message leaves, and a warning is logged once;
// operators reset passwords with `coffer user reset-password`. publicURL is
// the base of the links (scheme, host, optional path, no trailing slash).
func NewResets(store coffer.PasswordResetStore, sender *Sender, publicURL string, log *slog.Logger) *Resets {
	if log == nil {
		log = slog.Default()
	}
	return &Resets{store: store, sender: sender, publicURL: strings.TrimSuffix(publicURL, "/"), log: log}
}

// RequestPasswordReset implements coffer.PasswordResetService.
func (r *Resets) RequestPasswordReset(ctx context.Context, email string) error {
	t, err := r.store.RequestPasswordReset(ctx, email)
	if err != nil {
		return err
	}
	if r.sender == nil {
		r.warnOnce.Do(func() {
			r.log.Warn("a password reset was requested but no SMTP server is configured (--smtp-url / COFFER_SMTP_URL): " +
				"no e-mail is sent; an operator can set a password with `coffer user reset-password`")
		})
		return nil
	}
	if t != nil {
		r.sender.Enqueue(ResetMessage(t, r.publicURL))
	}
	return nil
}

// ResetPassword implements coffer.PasswordResetService.
func (r *Resets) ResetPassword(ctx context.Context, token, password string) error {
	return r.store.ResetPassword(ctx, token, password)
}

// ResetMessage is the e-mail carrying a reset ticket. The link puts the
// token in the URL's fragment, which browsers never send to a server nor
// in a Referer; the token is also given alone, for API clients.
func ResetMessage(t *coffer.ResetTicket, publicURL string) Message {
	link := publicURL + "/reset-password#token=" + t.Token
	mins := int(coffer.ResetLifetime / time.Minute)
	text := fmt.Sprintf(`Hello %s,

Someone asked to reset the password of your Coffer account %s.
To choose a new password, open this link within %d minutes (it works once):

%s

Or send this reset token with your new password to
POST /api/v1/auth/password-reset/confirm:

%s

The link expires at %s UTC. Resetting ends your open sessions; your
second factor (if you have one) is still asked at your next login.

If you did not ask for this, ignore this message: your password stays as
it is. If such messages keep coming, tell your administrator.
`, oneLine(t.Name), t.Email, mins, link, t.Token, t.ExpiresAt.UTC().Format("2006-01-02 15:04"))
	return Message{To: t.Email, Subject: "Reset your Coffer password", Text: text, Kind: "password_reset"}
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}
