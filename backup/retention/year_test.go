package retention_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cofferhq/coffer/backup/retention"
)

// simDay is one calendar day of the simulated year in Paris, with the
// snapshots taken that day, oldest first.
type simDay struct {
	y     int
	m     time.Month
	d     int
	snaps []retention.Snap
}

// simulateYear builds the snapshots of 2025-10-01 … 2026-12-31 in
// Europe/Paris: the daily one at 04:00 local, failed on some days, missing
// on others; on some days a manual one at 23:30 local (still that day in
// Paris, earlier in UTC) and on others an early one at 00:30 local (the
// day before in UTC). Every fifth good daily is verified. The year crosses
// both DST changes (2026-03-29 and 2026-10-25), and the 02:30 that does
// not exist on 2026-03-29.
func simulateYear(z *time.Location) []simDay {
	var days []simDay
	for t, i := time.Date(2025, 10, 1, 12, 0, 0, 0, z), 0; t.Year() < 2027; t, i = t.AddDate(0, 0, 1), i+1 {
		y, m, d := t.Date()
		sd := simDay{y: y, m: m, d: d}
		id := fmt.Sprintf("%04d%02d%02d", y, m, d)
		if i%13 == 0 {
			sd.snaps = append(sd.snaps, retention.Snap{ID: "e" + id, At: time.Date(y, m, d, 0, 30, 0, 0, z), Good: i%26 != 0})
		}
		if i%11 != 5 { // missing on some days
			good := i%7 != 3
			sd.snaps = append(sd.snaps, retention.Snap{ID: "d" + id, At: time.Date(y, m, d, 4, 0, 0, 0, z), Good: good, Verified: good && i%5 == 0})
		}
		if y == 2026 && m == 3 && d == 29 {
			// 02:30 does not exist that night; Go moves it to 03:30 CEST.
			sd.snaps = append(sd.snaps, retention.Snap{ID: "s" + id, At: time.Date(y, m, d, 2, 30, 0, 0, z), Good: true})
			slices.SortFunc(sd.snaps, func(a, b retention.Snap) int { return a.At.Compare(b.At) })
		}
		if i%5 == 0 {
			sd.snaps = append(sd.snaps, retention.Snap{ID: "m" + id, At: time.Date(y, m, d, 23, 30, 0, 0, z), Good: i%10 != 0})
		}
		days = append(days, sd)
	}
	return days
}

// expectYear computes what Keep must keep at the end of day index today of
// days, from the calendar of the simulation itself.
func expectYear(days []simDay, today int, p retention.Policy) map[string]string {
	want := map[string][]string{}
	// Daily: the last good snapshot of each of the Days days up to today.
	for i := today; i >= 0 && i > today-p.Days; i-- {
		for j := len(days[i].snaps) - 1; j >= 0; j-- {
			if s := days[i].snaps[j]; s.Good {
				want[s.ID] = append(want[s.ID], retention.Daily)
				break
			}
		}
	}
	// Monthly: the first good snapshot of each of the Months months up to
	// today's month, counting months by the simulated days' own dates.
	month := func(i int) int { return days[i].y*12 + int(days[i].m) }
	seen := map[int]bool{}
	for i := 0; i <= today; i++ {
		if month(i) <= month(today)-p.Months || seen[month(i)] {
			continue
		}
		for _, s := range days[i].snaps {
			if s.Good {
				want[s.ID] = append(want[s.ID], retention.Monthly)
				seen[month(i)] = true
				break
			}
		}
	}
	var newestVerified, newestGood string
	for i := 0; i <= today; i++ {
		for _, s := range days[i].snaps {
			if s.Good {
				newestGood = s.ID
				if s.Verified {
					newestVerified = s.ID
				}
			}
		}
	}
	if newestVerified != "" {
		want[newestVerified] = append(want[newestVerified], retention.NewestVerified)
	}
	if newestGood != "" {
		want[newestGood] = append(want[newestGood], retention.NewestGood)
	}
	out := map[string]string{}
	for id, rs := range want {
		out[id] = fmt.Sprint(rs)
	}
	return out
}

// TestSimulatedYear runs the rule at three moments of every day of a
// simulated year in Europe/Paris and compares it with the set computed
// from the simulation's calendar.
func TestSimulatedYear(t *testing.T) {
	paris := mustZone(t, "Europe/Paris")
	days := simulateYear(paris)
	p := retention.Policy{Days: 30, Months: 12, Zone: paris}
	var all []retention.Snap
	for i, d := range days {
		all = append(all, d.snaps...)
		for _, hm := range [][2]int{{0, 10}, {12, 0}, {23, 59}} {
			now := time.Date(d.y, d.m, d.d, hm[0], hm[1], 0, 0, paris)
			// Only what exists by now: the snapshots of earlier days, and
			// of today those already taken.
			var have []retention.Snap
			for _, s := range all {
				if !s.At.After(now) {
					have = append(have, s)
				}
			}
			got := retention.Keep(have, now, p)
			todayDays := slices.Clone(days[:i+1])
			var taken []retention.Snap
			for _, s := range todayDays[i].snaps {
				if !s.At.After(now) {
					taken = append(taken, s)
				}
			}
			todayDays[i].snaps = taken
			want := expectYear(todayDays, i, p)
			gotCmp := map[string]string{}
			for id, why := range got {
				gotCmp[id] = fmt.Sprint(splitReasons(why))
			}
			if !maps.Equal(gotCmp, want) {
				t.Fatalf("at %s: kept %v, want %v", now, gotCmp, want)
			}
			if len(got) > p.Days+p.Months+2 {
				t.Fatalf("at %s: kept %d > Days+Months+2", now, len(got))
			}
		}
	}
	// The simulation is not vacuous: at the end of the year the rule
	// keeps a full set, daily and monthly.
	got := retention.Keep(all, time.Date(2026, 12, 31, 23, 59, 0, 0, paris), p)
	if len(got) < 35 {
		t.Fatalf("kept only %d at the end of the year: %v", len(got), keptIDs(got))
	}
	t.Logf("kept at the end of the simulated year: %d of %d snapshots", len(got), len(all))
}

func splitReasons(s string) []string {
	var out []string
	for _, r := range []string{retention.Daily, retention.Monthly, retention.NewestVerified, retention.NewestGood} {
		for _, part := range splitComma(s) {
			if part == r {
				out = append(out, r)
			}
		}
	}
	return out
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			part := s[start:i]
			for len(part) > 0 && part[0] == ' ' {
				part = part[1:]
			}
			out = append(out, part)
			start = i + 1
		}
	}
	return out
}

// reference is the rule stated snapshot by snapshot, in O(n²): a good
// snapshot is daily when it is in the window and no good snapshot of its
// day is newer, monthly when in the window and no good snapshot of its
// month is older.
func reference(snaps []retention.Snap, now time.Time, p retention.Policy) map[string]bool {
	newer := func(a, b retention.Snap) bool { // a newer than b
		return a.At.After(b.At) || a.At.Equal(b.At) && a.ID > b.ID
	}
	day := func(t time.Time) time.Time {
		y, m, d := t.In(p.Zone).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	month := func(t time.Time) time.Time {
		y, m, _ := t.In(p.Zone).Date()
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	}
	today, thisMonth := day(now), month(now)
	out := map[string]bool{}
	var newestGood, newestVerified *retention.Snap
	for i, s := range snaps {
		if !s.Good {
			continue
		}
		if newestGood == nil || newer(s, *newestGood) {
			newestGood = &snaps[i]
		}
		if s.Verified && (newestVerified == nil || newer(s, *newestVerified)) {
			newestVerified = &snaps[i]
		}
		d, m := day(s.At), month(s.At)
		if !d.After(today) && d.After(today.AddDate(0, 0, -p.Days)) {
			newest := true
			for _, o := range snaps {
				if o.Good && day(o.At).Equal(d) && newer(o, s) {
					newest = false
				}
			}
			if newest {
				out[s.ID] = true
			}
		}
		if !m.After(thisMonth) && m.After(thisMonth.AddDate(0, -p.Months, 0)) {
			first := true
			for _, o := range snaps {
				if o.Good && month(o.At).Equal(m) && newer(s, o) {
					first = false
				}
			}
			if first {
				out[s.ID] = true
			}
		}
	}
	if newestGood != nil {
		out[newestGood.ID] = true
	}
	if newestVerified != nil {
		out[newestVerified.ID] = true
	}
	return out
}

// TestProperties draws random histories and policies: Keep matches the
// reference rule, never drops the newest verified or newest good snapshot,
// keeps only good ones and at most Days+Months+2.
func TestProperties(t *testing.T) {
	zones := []*time.Location{time.UTC, mustZone(t, "Europe/Paris"), mustZone(t, "America/New_York"), mustZone(t, "Australia/Lord_Howe")}
	r := rand.New(rand.NewPCG(17, 42))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for iter := range 2000 {
		p := retention.Policy{Days: 1 + r.IntN(40), Months: 1 + r.IntN(15), Zone: zones[r.IntN(len(zones))]}
		n := r.IntN(200)
		span := time.Duration(1+r.IntN(800)) * 24 * time.Hour
		snaps := make([]retention.Snap, n)
		for i := range snaps {
			at := base.Add(time.Duration(r.Int64N(int64(span))))
			if r.IntN(10) == 0 && i > 0 {
				at = snaps[r.IntN(i)].At // same instant as another
			}
			good := r.IntN(4) != 0
			snaps[i] = retention.Snap{ID: fmt.Sprintf("s%04d", i), At: at, Good: good, Verified: r.IntN(6) == 0}
		}
		now := base.Add(time.Duration(r.Int64N(int64(span + 48*time.Hour))))
		got := retention.Keep(snaps, now, p)
		ref := reference(snaps, now, p)
		if !slices.Equal(keptIDs(got), slices.Sorted(maps.Keys(ref))) {
			t.Fatalf("iteration %d (%+v, now %s): Keep %v, reference %v", iter, p, now, keptIDs(got), slices.Sorted(maps.Keys(ref)))
		}
		if len(got) > p.Days+p.Months+2 {
			t.Fatalf("iteration %d: kept %d > %d", iter, len(got), p.Days+p.Months+2)
		}
		var nv, ng *retention.Snap
		for i, s := range snaps {
			if _, kept := got[s.ID]; kept && !s.Good {
				t.Fatalf("iteration %d: kept %s, which is not good", iter, s.ID)
			}
			if !s.Good {
				continue
			}
			if ng == nil || s.At.After(ng.At) || s.At.Equal(ng.At) && s.ID > ng.ID {
				ng = &snaps[i]
			}
			if s.Verified && (nv == nil || s.At.After(nv.At) || s.At.Equal(nv.At) && s.ID > nv.ID) {
				nv = &snaps[i]
			}
		}
		if nv != nil && got[nv.ID] == "" {
			t.Fatalf("iteration %d: newest verified %s dropped", iter, nv.ID)
		}
		if ng != nil && got[ng.ID] == "" {
			t.Fatalf("iteration %d: newest good %s dropped", iter, ng.ID)
		}
	}
}
