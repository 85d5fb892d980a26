package mail

import (
	"fmt"
	"strings"

	"github.com/cofferhq/coffer"
)

// Notifier returns the function that e-mails notices about people's
// accounts (all.Store.Notify) through sender's queue, or nil when no SMTP
// server is configured. publicURL is the base of links (no trailing slash).
func Notifier(sender *Sender, publicURL string) func(coffer.Notice) {
	if sender == nil {
		return nil
	}
	publicURL = strings.TrimSuffix(publicURL, "/")
	return func(n coffer.Notice) {
		if m, ok := NoticeMessage(n, publicURL); ok {
			sender.Enqueue(m)
		}
	}
}

// NoticeMessage is the e-mail of a notice; false for a kind without one.
func NoticeMessage(n coffer.Notice, publicURL string) (Message, bool) {
	switch n.Kind {
	case coffer.NoticeSecondFactorFailed:
		text := fmt.Sprintf(`Hello %s,

Your password was entered correctly but the second factor failed: someone
signing in to your Coffer account %s gave a wrong authenticator code,
recovery code or passkey %d times in a row (last at %s UTC, from the
address %s).

If this was you, nothing is wrong: wait a moment and try again. If it was
not you, someone knows your password: change it now (%s), end your other
sessions, and tell your administrator. Further attempts are slowed down.
`, oneLine(n.Name), n.Email, n.Failures, n.At.UTC().Format("2006-01-02 15:04"), oneLine(n.IP), publicURL)
		return Message{To: n.Email, Subject: "Your Coffer password was used, but the second factor failed", Text: text, Kind: "second_factor_alert"}, true
	}
	return Message{}, false
}
