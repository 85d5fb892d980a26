// Package retention decides which backup snapshots to keep, by the
// calendar: the newest good snapshot of each of the last Days days, the
// first good snapshot of each of the last Months months, and always the
// newest verified and the newest good snapshot. It is a pure function of
// its arguments (no clock, no I/O), so the rule is tested on its own; the
// backup service marks what Keep returns and sweeps the rest after a grace
// period.
package retention

import (
	"slices"
	"strings"
	"time"
)

// Defaults of Policy.
const (
	DefaultDays   = 30
	DefaultMonths = 12
)

// Reasons a snapshot is kept. A snapshot kept for several reasons gets
// them joined with ", " in this order.
const (
	Daily          = "daily"
	Monthly        = "monthly"
	NewestVerified = "newest verified"
	NewestGood     = "newest good"
)

// Snap is what the rule needs to know of one snapshot.
type Snap struct {
	ID       string
	At       time.Time // when it was taken (its start)
	Good     bool      // it completed and is usable
	Verified bool      // a verify or a drill read it back successfully
}

// Policy says how long snapshots are kept.
type Policy struct {
	// Days is the number of calendar days, today included, of which the
	// newest good snapshot of each is kept: 0 means DefaultDays, a
	// negative number none.
	Days int
	// Months is the number of calendar months, this one included, of
	// which the first good snapshot of each is kept: 0 means
	// DefaultMonths, a negative number none.
	Months int
	// Zone is where days and months begin and end; nil means time.Local.
	Zone *time.Location
}

// withDefaults returns p with its zero fields set to their defaults.
func (p Policy) withDefaults() Policy {
	if p.Days == 0 {
		p.Days = DefaultDays
	}
	if p.Months == 0 {
		p.Months = DefaultMonths
	}
	if p.Zone == nil {
		p.Zone = time.Local
	}
	return p
}

// Keep returns the snapshots to keep at now under p, as id → reason (see
// the reason constants); every snapshot not in the map may be pruned.
//
//   - daily: for each calendar day in p.Zone from now's day back over
//     p.Days days, the newest good snapshot taken that day;
//   - monthly: for each calendar month from now's month back over
//     p.Months months, the first good snapshot taken that month;
//   - newest verified: the newest snapshot that is good and verified,
//     however old;
//   - newest good: the newest good snapshot, however old.
//
// Snapshots that are not good are kept only by none of these rules.
// Snapshots dated after now count by their day and month like any other
// but fall outside the windows, which end at now's day and month. Ties in
// time are broken by id, so the result does not depend on the order of
// snaps. At most Days+Months+2 snapshots are kept.
func Keep(snaps []Snap, now time.Time, p Policy) map[string]string {
	p = p.withDefaults()
	reasons := map[string][]string{}
	add := func(id, why string) {
		if !slices.Contains(reasons[id], why) {
			reasons[id] = append(reasons[id], why)
		}
	}

	good := make([]Snap, 0, len(snaps))
	for _, s := range snaps {
		if s.Good {
			good = append(good, s)
		}
	}
	// Oldest first; same time: smaller id first.
	slices.SortFunc(good, func(a, b Snap) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})

	today := dayNumber(now.In(p.Zone))
	thisMonth := monthNumber(now.In(p.Zone))
	newestOfDay := map[int64]string{}  // day → id
	firstOfMonth := map[int64]string{} // month → id
	for _, s := range good {
		t := s.At.In(p.Zone)
		if d := dayNumber(t); d <= today && d > today-int64(p.Days) {
			newestOfDay[d] = s.ID // later ones overwrite: the newest wins
		}
		if m := monthNumber(t); m <= thisMonth && m > thisMonth-int64(p.Months) {
			if _, ok := firstOfMonth[m]; !ok {
				firstOfMonth[m] = s.ID
			}
		}
	}
	for _, id := range newestOfDay {
		add(id, Daily)
	}
	for _, id := range firstOfMonth {
		add(id, Monthly)
	}
	for i := len(good) - 1; i >= 0; i-- {
		if good[i].Verified {
			add(good[i].ID, NewestVerified)
			break
		}
	}
	if len(good) > 0 {
		add(good[len(good)-1].ID, NewestGood)
	}

	order := []string{Daily, Monthly, NewestVerified, NewestGood}
	out := make(map[string]string, len(reasons))
	for id, rs := range reasons {
		slices.SortFunc(rs, func(a, b string) int { return slices.Index(order, a) - slices.Index(order, b) })
		out[id] = strings.Join(rs, ", ")
	}
	return out
}

// dayNumber numbers the calendar day of t (in t's own zone): consecutive
// days get consecutive numbers, whatever the length of the day (DST).
func dayNumber(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// monthNumber numbers the calendar month of t (in t's own zone).
func monthNumber(t time.Time) int64 {
	return int64(t.Year())*12 + int64(t.Month()) - 1
}
