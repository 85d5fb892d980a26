// Package schedule runs Coffer's daily backup: one low-priority worker
// per server that starts at a configured time of day (04:00 instance time
// by default), snapshots each notebook and then the instance, with a
// pause between them, replicates to the second location, backs up the keyring
// and prunes. Its progress is kept in memory for the API and in the
// instance database (backup_runs) for the command line and other nodes;
// a lease (backup_leases) keeps two processes from running at once.
//
// Next, the pure rule of when the worker runs, is kept apart from the
// worker so that it can be tested over daylight-saving changes.
package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TimeOfDay is a wall-clock time of day, to the minute.
type TimeOfDay struct{ Hour, Minute int }

// String formats t as HH:MM.
func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", t.Hour, t.Minute) }

// ParseTimeOfDay reads HH:MM (24-hour clock).
func ParseTimeOfDay(s string) (TimeOfDay, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return TimeOfDay{}, fmt.Errorf("%q is not a time of day such as 04:00", s)
	}
	return TimeOfDay{hh, mm}, nil
}

// slot returns the run time of the calendar day of day (in zone). On a
// day when at falls in a daylight-saving gap, time.Date moves it by the
// size of the gap: the run still happens once that day.
func slot(at TimeOfDay, zone *time.Location, day time.Time) time.Time {
	d := day.In(zone)
	return time.Date(d.Year(), d.Month(), d.Day(), at.Hour, at.Minute, 0, 0, zone)
}

// Next returns when the daily run should start, given the start of the
// last daily run (zero: none yet) and now:
//
//   - now itself when a run was missed: the latest scheduled time at or
//     before now is after last (the server was down, or busy, then). However
//     many runs were missed, this is one run: once it has started (last is
//     then now), the next one is the next scheduled time.
//   - otherwise the first scheduled time after now.
//
// A fresh instance (last zero) waits for the first scheduled time. Times
// are wall-clock times in zone, so a run stays at 04:00 across
// daylight-saving changes; each calendar day has exactly one scheduled
// time.
func Next(at TimeOfDay, zone *time.Location, last, now time.Time) time.Time {
	if zone == nil {
		zone = time.Local
	}
	today := slot(at, zone, now)
	latest := today
	if today.After(now) {
		d := now.In(zone)
		latest = slot(at, zone, time.Date(d.Year(), d.Month(), d.Day()-1, 12, 0, 0, 0, zone))
	}
	if !last.IsZero() && latest.After(last) {
		return now
	}
	if today.After(now) {
		return today
	}
	d := now.In(zone)
	return slot(at, zone, time.Date(d.Year(), d.Month(), d.Day()+1, 12, 0, 0, 0, zone))
}
