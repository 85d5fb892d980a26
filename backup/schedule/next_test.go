package schedule_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/backup/schedule"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	z, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("no time zone data for %s: %v", name, err)
	}
	return z
}

func TestParseTimeOfDay(t *testing.T) {
	for in, want := range map[string]schedule.TimeOfDay{"04:00": {4, 0}, "23:59": {23, 59}, "0:05": {0, 5}} {
		got, err := schedule.ParseTimeOfDay(in)
		if err != nil || got != want {
			t.Errorf("ParseTimeOfDay(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "4", "24:00", "04:60", "04:5", "-1:00", "ab:cd", "04:00:00"} {
		if _, err := schedule.ParseTimeOfDay(bad); err == nil {
			t.Errorf("ParseTimeOfDay(%q) accepted", bad)
		}
	}
}

func TestNextBasic(t *testing.T) {
	z := mustZone(t, "Europe/Paris")
	at := schedule.TimeOfDay{Hour: 4}
	d := func(day, h, m int) time.Time { return time.Date(2026, 6, day, h, m, 0, 0, z) }
	for _, c := range []struct {
		name      string
		last, now time.Time
		want      time.Time
	}{
		{"fresh instance before the time", time.Time{}, d(10, 1, 0), d(10, 4, 0)},
		{"fresh instance after the time waits for tomorrow", time.Time{}, d(10, 9, 0), d(11, 4, 0)},
		{"ran today", d(10, 4, 0), d(10, 9, 0), d(11, 4, 0)},
		{"ran yesterday, before today's time", d(9, 4, 0), d(10, 3, 59), d(10, 4, 0)},
		{"exactly at the time", d(9, 4, 0), d(10, 4, 0), d(10, 4, 0)},
		{"missed today (down at 04:00): at once", d(9, 4, 0), d(10, 11, 0), d(10, 11, 0)},
		{"down for a week: at once", d(2, 4, 0), d(10, 11, 0), d(10, 11, 0)},
		{"down for a week, back before today's time: at once", d(2, 4, 0), d(10, 2, 0), d(10, 2, 0)},
		{"caught up at start: then tomorrow", d(10, 11, 0), d(10, 11, 1), d(11, 4, 0)},
		{"manual run yesterday evening does not skip today", d(9, 22, 0), d(10, 3, 0), d(10, 4, 0)},
	} {
		if got := schedule.Next(at, z, c.last, c.now); !got.Equal(c.want) {
			t.Errorf("%s: Next = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestNextOverAYear runs the rule over a year of a server that never
// stops, in zones with daylight-saving changes and with the time of day
// inside the spring gap and the autumn overlap: exactly one run per
// calendar day, at the wall-clock time when it exists.
func TestNextOverAYear(t *testing.T) {
	for _, c := range []struct {
		zone string
		at   schedule.TimeOfDay
	}{
		{"Europe/Paris", schedule.TimeOfDay{Hour: 4}},
		{"Europe/Paris", schedule.TimeOfDay{Hour: 2, Minute: 30}},     // in the gap on the last Sunday of March
		{"America/New_York", schedule.TimeOfDay{Hour: 1, Minute: 30}}, // twice on the first Sunday of November
		{"America/New_York", schedule.TimeOfDay{Hour: 2, Minute: 30}},
		{"UTC", schedule.TimeOfDay{Hour: 0, Minute: 0}},
	} {
		z := mustZone(t, c.zone)
		now := time.Date(2026, 1, 1, 12, 0, 0, 0, z)
		last := time.Date(2026, 1, 1, c.at.Hour, c.at.Minute, 0, 0, z) // ran today
		days := map[string]int{"2026-01-01": 1}
		end := time.Date(2027, 1, 1, 12, 0, 0, 0, z)
		for now.Before(end) {
			next := schedule.Next(c.at, z, last, now)
			if next.Before(now) {
				t.Fatalf("%s %v: Next(%v, %v) = %v, in the past", c.zone, c.at, last, now, next)
			}
			if next.Equal(now) {
				t.Fatalf("%s %v: a server that never stopped was told to catch up at %v (last %v)", c.zone, c.at, now, last)
			}
			if gap := next.Sub(now); gap > 25*time.Hour {
				t.Fatalf("%s %v: %v after %v", c.zone, c.at, gap, now)
			}
			local := next.In(z)
			if local.Year() == 2026 {
				days[local.Format("2006-01-02")]++
			}
			if !(local.Hour() == c.at.Hour && local.Minute() == c.at.Minute) {
				// Only the spring gap may move it, by its hour (time.Date
				// picks either side of the gap).
				if (local.Hour() != c.at.Hour+1 && local.Hour() != c.at.Hour-1) || local.Minute() != c.at.Minute || local.Month() != time.March {
					t.Errorf("%s %v: ran at %v", c.zone, c.at, local)
				}
			}
			last = next
			now = next.Add(time.Minute) // the run takes a minute
		}
		if len(days) != 365 {
			t.Errorf("%s %v: ran on %d days in 2026, want 365", c.zone, c.at, len(days))
		}
		for day, n := range days {
			if n != 1 {
				t.Errorf("%s %v: %d runs on %s", c.zone, c.at, n, day)
			}
		}
	}
}

// TestNextCatchUpOnce: after downtime, one catch-up run at start, and
// the following call (the run has started) waits for the next day.
func TestNextCatchUpOnce(t *testing.T) {
	z := mustZone(t, "America/New_York")
	at := schedule.TimeOfDay{Hour: 4}
	last := time.Date(2026, 3, 1, 4, 0, 0, 0, z)
	now := time.Date(2026, 3, 9, 10, 0, 0, 0, z) // down over the spring change
	if got := schedule.Next(at, z, last, now); !got.Equal(now) {
		t.Fatalf("after downtime: %v, want now (%v)", got, now)
	}
	if got, want := schedule.Next(at, z, now, now.Add(time.Second)), time.Date(2026, 3, 10, 4, 0, 0, 0, z); !got.Equal(want) {
		t.Errorf("after the catch-up: %v, want %v", got, want)
	}
}

func TestAlertMessage(t *testing.T) {
	r := &schedule.Run{ID: "run_1", Kind: schedule.KindDaily, StartedAt: time.Date(2026, 5, 1, 4, 0, 0, 0, time.UTC), Taken: 3, Failed: 1,
		Error: "snapshot nb_x: disk\nfull"}
	m := schedule.AlertMessage("ops@example.com", r, "https://c.example.com")
	if m.To != "ops@example.com" || m.Kind != "backup_failed" || !strings.Contains(m.Text, "snapshot nb_x: disk full") ||
		!strings.Contains(m.Text, "2026-05-01 04:00") || !strings.Contains(m.Text, "https://c.example.com") {
		t.Errorf("message = %+v", m)
	}
}
