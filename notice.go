package coffer

import "time"

// EventSecondFactorAlert is raised when the second factor of an account
// keeps failing after a correct password: someone may know the password.
const EventSecondFactorAlert = "login.second_factor_alert"

// Notice is a message for a person about their own account, e-mailed when
// an SMTP server is configured.
type Notice struct {
	Kind     string // Notice*
	UserID   string
	Email    string
	Name     string
	IP       string // the client address of the attempt
	At       time.Time
	Failures int // consecutive failures so far
}

// NoticeSecondFactorFailed: the password was entered correctly, but the
// second factor failed, repeatedly.
const NoticeSecondFactorFailed = "second_factor_failed"
