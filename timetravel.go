package coffer

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Error codes of time travel (see EINVALID and the others in error.go).
const (
	// EHISTORY: the moment asked for is before what the notebook's
	// history keeps (its retention, a time its history was off, or before
	// its history began), so its state there cannot be told.
	EHISTORY = "history_unavailable"
	// EASOFTOOLARGE: reading a whole table at a past moment would
	// reconstruct more than MaxAsOfRows records.
	EASOFTOOLARGE = "as_of_too_large"
)

// MaxAsOfRows bounds the records that a list or revert at a past moment
// reconstructs (every record of the table now, and those deleted since).
const MaxAsOfRows = 100_000

// AsOf names a past moment of a notebook: a time, or the sequence number of
// a history action (the moment just after that action; 0 is before the
// first action).
type AsOf struct {
	Time time.Time // the moment, when not zero
	Seq  int64     // the sequence number, when Time is zero
}

// String returns a in the form ParseAsOf reads.
func (a AsOf) String() string {
	if !a.Time.IsZero() {
		return a.Time.UTC().Format(time.RFC3339Nano)
	}
	return strconv.FormatInt(a.Seq, 10)
}

// ParseAsOf reads a moment: an RFC 3339 time, or a history sequence number
// (a non-negative integer). field names the input in the EINVALID error.
func ParseAsOf(field, s string) (*AsOf, error) {
	s = strings.TrimSpace(s)
	bad := Invalid("the moment is not valid", FieldError{Field: field, Message: "must be an RFC 3339 time (2026-01-02T15:04:05Z) or a history sequence number"})
	if s == "" || len(s) > 64 {
		return nil, bad
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return nil, bad
		}
		return &AsOf{Seq: n}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 1970 {
		return nil, bad
	}
	return &AsOf{Time: t.UTC()}, nil
}

// HistoryPoint is the moment an answer shows: the last history action at
// or before the moment asked for (Seq 0: before the first), and its time.
type HistoryPoint struct {
	Seq int64      `json:"seq"`
	At  *time.Time `json:"at"`
}

// RevertInput is a revert: back to the moment To, for the given columns
// (names or ids) only, or every column the caller may read when empty.
type RevertInput struct {
	To      *AsOf
	Columns []string
}

// RevertResult says what a revert did: the history action it recorded (0
// when nothing had changed) and the records it changed, brought back and
// deleted.
type RevertResult struct {
	Seq      int64    `json:"seq"`
	Updated  []string `json:"updated"`
	Restored []string `json:"restored"`
	Deleted  []string `json:"deleted"`
}

// TimeTravelService reads records as they were at a past moment and
// reverts records and tables to such a moment.
//
// Reading needs the history capability on the table (EFORBIDDEN when the
// caller sees the table without it). The access rules that apply are those
// of now: a record is shown when a condition that gives the caller history
// holds on its past state, each cell when a condition that lets them read
// its column holds there; columns hidden from them now stay hidden. A
// moment before what history keeps is EHISTORY; a table too large to
// reconstruct is EASOFTOOLARGE. A revert is one new action (kind revert)
// that passes the access engine like any write (write on every column it
// changes, the row before and after, create and delete where it brings
// back or deletes records).
type TimeTravelService interface {
	// FindRecordAsOf returns a record as it was at the moment. ENOTFOUND
	// when it did not exist then or the caller may not see it.
	FindRecordAsOf(ctx context.Context, notebook, table, id string, at *AsOf) (*Record, error)
	// FindRecordsAsOf lists records as they were at q.AsOf; filter and sort
	// apply to that state. The list's AsOf says which action it shows.
	FindRecordsAsOf(ctx context.Context, notebook, table string, q ListQuery) (*RecordList, error)
	// RevertRecord sets cells of a record back to their values at in.To,
	// bringing the record back (with its id) if it was deleted since, or
	// deleting it if it was created since (only without Columns). Later
	// changes to other cells stay. ENOTFOUND, EFORBIDDEN, EINVALID.
	RevertRecord(ctx context.Context, notebook, table, id string, in RevertInput) (*RevertResult, error)
	// RevertTable sets every record of a table back to its state at in.To:
	// changed records get their old values, records created since are
	// deleted, records deleted since come back with their ids.
	RevertTable(ctx context.Context, notebook, table string, in RevertInput) (*RevertResult, error)
}
