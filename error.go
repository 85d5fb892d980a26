package coffer

import (
	"errors"
	"fmt"
	"time"
)

// Error codes are stable: clients and tests rely on them. Add new ones, never
// rename or reuse one.
const (
	EINVALID    = "invalid"           // the request is malformed or a value is not valid
	ENOTFOUND   = "not_found"         // the object does not exist or the caller may not see it
	ECONFLICT   = "conflict"          // the object already exists (e.g. a duplicate name)
	EVERSION    = "version_conflict"  // optimistic concurrency: the record changed meanwhile
	ECONVERSION = "conversion_failed" // a column type change cannot convert some values
	// ECONVERSIONBLOCKED: a column type change cannot convert values the
	// caller may not read; neither named nor counted.
	ECONVERSIONBLOCKED = "conversion_blocked"
	EUNAUTHORIZED      = "unauthorized" // no valid credentials
	EFORBIDDEN         = "forbidden"    // authenticated but not allowed
	ETOOLARGE          = "too_large"    // the request exceeds a size limit
	EUNAVAILABLE       = "unavailable"  // the service is shutting down or overloaded
	ETOOMANY           = "rate_limited" // too many attempts: wait (Retry-After) and try again
	ERESTRICTED        = "restricted"   // the session may only finish a required step (2FA enrolment, password change)
	EINTERNAL          = "internal"     // a bug or an infrastructure failure; details only in logs
	// ESESSION: the account itself (sessions, API keys, password, second
	// factors, single sign-on links, organizations) is managed from a
	// signed-in session, never with an API key.
	ESESSION    = "session_required"
	ETOOCOMPLEX = "filter_too_complex" // a filter is over a cap on its size, comparisons, nesting or lists
	ETIMEOUT    = "query_timeout"      // a list or count ran past its time budget and was cancelled
	ESTREAMS    = "too_many_streams"   // the caller already holds the most live-update streams allowed
	// ENOTHINGTOUNDO and ENOTHINGTOREDO: the caller's undo (redo) stack in
	// that notebook and client session is empty.
	ENOTHINGTOUNDO = "nothing_to_undo"
	ENOTHINGTOREDO = "nothing_to_redo"
	// ESETUPTOKEN: the first-run setup link's token is wrong, used,
	// expired or missing. ESETUPDONE: the instance already has an account.
	ESETUPTOKEN = "setup_token_invalid"
	ESETUPDONE  = "setup_done"
	// ELOCKED: reading or writing the plaintext of an encrypted column
	// needs its key (X-Coffer-Column-Key or an unlock), and none was given.
	ELOCKED = "column_locked"
	// EKEY: the password given for an encrypted column is not its password.
	EKEY = "column_key_invalid"
	// EINTEGRITY: stored ciphertext failed its integrity check (tampered,
	// moved to another object or cell, or sealed under a key this instance
	// does not hold or has destroyed). Nothing of it is returned.
	EINTEGRITY = "integrity_failed"
	// EFILEGONE: a write (an undo, redo, revert or restore) would list in
	// a file cell a file whose content the orphan collection has removed.
	// Nothing is written.
	EFILEGONE = "file_gone"
)

// FieldError names one invalid input field and says what is wrong with it.
// Messages never echo secrets.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the one error type of Coffer. Code and Message are safe to show to
// users; Op and Err are for logs only.
type Error struct {
	Code    string       // one of the E* constants
	Message string       // human-readable, safe for the caller
	Fields  []FieldError // per-field problems, for EINVALID and ECONVERSION
	Cells   []CellRef    // the cells in conflict, for an undo's ECONFLICT
	Op      string       // the operation that failed, for logs
	Err     error        // the underlying cause, for logs
}

func (e *Error) Error() string {
	s := e.Code
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error carrying per-field problems.
func Invalid(message string, fields ...FieldError) *Error {
	return &Error{Code: EINVALID, Message: message, Fields: fields}
}

// Internal wraps an unexpected error. The cause is kept for logs and never
// shown to the caller.
func Internal(op string, err error) *Error {
	return &Error{Code: EINTERNAL, Message: "internal error", Op: op, Err: err}
}

// ErrorCode returns the code of err: the code of the first *Error in its
// chain, EINTERNAL for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-visible message of err. Errors that are not
// *Error, or are internal, give a generic message.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "internal error"
}

// ErrorFields returns the per-field problems of err, if any.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// ErrorCells returns the cells in conflict that err lists, if any.
func ErrorCells(err error) []CellRef {
	var e *Error
	if errors.As(err, &e) {
		return e.Cells
	}
	return nil
}

// TooMany returns an ETOOMANY error that asks to wait (at least a second).
func TooMany(wait time.Duration) *Error {
	secs := max(1, int((wait+time.Second-1)/time.Second))
	return &Error{Code: ETOOMANY, Message: fmt.Sprintf("too many failed attempts: try again in %d seconds", secs), Err: retryAfter(secs)}
}

// retryAfter is carried by ETOOMANY errors: the seconds to wait.
type retryAfter int

func (r retryAfter) Error() string { return fmt.Sprintf("retry after %ds", int(r)) }

// RetryAfter returns the seconds to wait carried by an ETOOMANY error, or 0.
func RetryAfter(err error) int {
	var r retryAfter
	if errors.As(err, &r) {
		return int(r)
	}
	return 0
}
