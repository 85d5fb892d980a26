package retention_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/backup/retention"
)

func mustZone(tb testing.TB, name string) *time.Location {
	tb.Helper()
	z, err := time.LoadLocation(name)
	if err != nil {
		tb.Skipf("skipping: time zone %s not available: %v", name, err)
	}
	return z
}

func keptIDs(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

func TestKeepTable(t *testing.T) {
	utc := time.UTC
	paris := mustZone(t, "Europe/Paris")
	at := func(z *time.Location, y int, m time.Month, d, h, min int) time.Time {
		return time.Date(y, m, d, h, min, 0, 0, z)
	}
	now := at(utc, 2026, 6, 15, 12, 0)
	cases := []struct {
		name  string
		snaps []retention.Snap
		now   time.Time
		p     retention.Policy
		want  map[string]string
	}{
		{name: "none", now: now, want: map[string]string{}},
		{
			name:  "one good",
			snaps: []retention.Snap{{ID: "a", At: at(utc, 2026, 6, 15, 4, 0), Good: true}},
			now:   now, p: retention.Policy{Zone: utc},
			want: map[string]string{"a": "daily, monthly, newest good"},
		},
		{
			name:  "failed only: nothing",
			snaps: []retention.Snap{{ID: "a", At: at(utc, 2026, 6, 15, 4, 0)}, {ID: "b", At: at(utc, 2026, 6, 14, 4, 0), Verified: true}},
			now:   now, p: retention.Policy{Zone: utc},
			want: map[string]string{},
		},
		{
			name: "newest of the day, first of the month",
			snaps: []retention.Snap{
				{ID: "a", At: at(utc, 2026, 6, 1, 4, 0), Good: true},
				{ID: "b", At: at(utc, 2026, 6, 1, 9, 0), Good: true},
				{ID: "c", At: at(utc, 2026, 6, 1, 10, 0)}, // failed: not the newest of the day
				{ID: "d", At: at(utc, 2026, 6, 15, 4, 0), Good: true},
				{ID: "e", At: at(utc, 2026, 6, 15, 5, 0), Good: true},
			},
			now: now, p: retention.Policy{Zone: utc},
			want: map[string]string{"a": "monthly", "b": "daily", "e": "daily, newest good"},
		},
		{
			name: "days window: today and Days-1 before",
			snaps: []retention.Snap{
				{ID: "13", At: at(utc, 2026, 6, 13, 4, 0), Good: true},
				{ID: "14", At: at(utc, 2026, 6, 14, 4, 0), Good: true},
				{ID: "15", At: at(utc, 2026, 6, 15, 4, 0), Good: true},
			},
			now: now, p: retention.Policy{Days: 2, Months: -1, Zone: utc},
			want: map[string]string{"14": "daily", "15": "daily, newest good"},
		},
		{
			name: "months window: this month and Months-1 before; a failed first is skipped",
			snaps: []retention.Snap{
				{ID: "mar", At: at(utc, 2026, 3, 1, 4, 0), Good: true},
				{ID: "apr1", At: at(utc, 2026, 4, 1, 4, 0)},
				{ID: "apr2", At: at(utc, 2026, 4, 2, 4, 0), Good: true},
				{ID: "may", At: at(utc, 2026, 5, 31, 4, 0), Good: true},
			},
			now: now, p: retention.Policy{Days: -1, Months: 3, Zone: utc},
			want: map[string]string{"apr2": "monthly", "may": "monthly, newest good"},
		},
		{
			name: "newest verified kept however old",
			snaps: []retention.Snap{
				{ID: "old", At: at(utc, 2024, 1, 1, 4, 0), Good: true, Verified: true},
				{ID: "older", At: at(utc, 2023, 1, 1, 4, 0), Good: true, Verified: true},
				{ID: "bad", At: at(utc, 2026, 6, 10, 4, 0), Verified: true}, // not good: not eligible
				{ID: "new", At: at(utc, 2026, 6, 15, 4, 0), Good: true},
			},
			now: now, p: retention.Policy{Zone: utc},
			want: map[string]string{"old": "newest verified", "new": "daily, monthly, newest good"},
		},
		{
			name: "newest good kept when every daily is out of the window",
			snaps: []retention.Snap{
				{ID: "a", At: at(utc, 2025, 1, 1, 4, 0), Good: true},
				{ID: "b", At: at(utc, 2025, 1, 2, 4, 0), Good: true},
			},
			now: now, p: retention.Policy{Zone: utc},
			want: map[string]string{"b": "newest good"},
		},
		{
			name: "zone decides the day: 00:30 in Paris is the previous day in UTC",
			snaps: []retention.Snap{
				{ID: "late", At: at(paris, 2026, 6, 1, 0, 30), Good: true}, // 2026-05-31 22:30 UTC
				{ID: "next", At: at(paris, 2026, 6, 1, 4, 0), Good: true},
			},
			now: at(paris, 2026, 6, 1, 12, 0), p: retention.Policy{Days: 1, Months: 1, Zone: paris},
			want: map[string]string{"late": "monthly", "next": "daily, newest good"},
		},
		{
			name: "same snapshots in UTC: late is May's",
			snaps: []retention.Snap{
				{ID: "late", At: at(paris, 2026, 6, 1, 0, 30), Good: true},
				{ID: "next", At: at(paris, 2026, 6, 1, 4, 0), Good: true},
			},
			now: at(paris, 2026, 6, 1, 12, 0), p: retention.Policy{Days: 1, Months: 1, Zone: utc},
			want: map[string]string{"next": "daily, monthly, newest good"},
		},
		{
			name: "future snapshot: only as newest good",
			snaps: []retention.Snap{
				{ID: "now", At: at(utc, 2026, 6, 15, 4, 0), Good: true},
				{ID: "future", At: at(utc, 2026, 7, 2, 4, 0), Good: true},
			},
			now: now, p: retention.Policy{Zone: utc},
			want: map[string]string{"now": "daily, monthly", "future": "newest good"},
		},
		{
			name: "same instant: the larger id is the newer",
			snaps: []retention.Snap{
				{ID: "b", At: at(utc, 2026, 6, 15, 4, 0), Good: true},
				{ID: "a", At: at(utc, 2026, 6, 15, 4, 0), Good: true},
			},
			now: now, p: retention.Policy{Zone: utc},
			want: map[string]string{"a": "monthly", "b": "daily, newest good"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := retention.Keep(c.snaps, c.now, c.p)
			if !maps.Equal(got, c.want) {
				t.Errorf("Keep = %v, want %v", got, c.want)
			}
			// The order of the input does not matter.
			rev := slices.Clone(c.snaps)
			slices.Reverse(rev)
			if got := retention.Keep(rev, c.now, c.p); !maps.Equal(got, c.want) {
				t.Errorf("Keep(reversed) = %v, want %v", got, c.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	// 400 good daily snapshots at noon UTC; the zero Policy keeps 30
	// days and 12 months in time.Local. Noon UTC is the same calendar day
	// in every zone from UTC-11 to UTC+11.
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var snaps []retention.Snap
	for i := range 400 {
		at := now.AddDate(0, 0, -i)
		snaps = append(snaps, retention.Snap{ID: at.Format("20060102"), At: at, Good: true})
	}
	got := retention.Keep(snaps, now, retention.Policy{})
	daily, monthly := 0, 0
	for _, why := range got {
		if strings.Contains(why, retention.Daily) {
			daily++
		}
		if strings.Contains(why, retention.Monthly) {
			monthly++
		}
	}
	if daily != retention.DefaultDays || monthly != retention.DefaultMonths {
		t.Errorf("zero Policy: %d daily, %d monthly, want %d and %d (%v)", daily, monthly, retention.DefaultDays, retention.DefaultMonths, keptIDs(got))
	}
	if _, ok := got["20261107"]; ok {
		t.Error("the 31st day back is kept")
	}
	if _, ok := got["20261108"]; !ok {
		t.Error("the 30th day back is not kept")
	}
	if _, ok := got["20260101"]; !ok {
		t.Error("January's first is not kept")
	}
	if _, ok := got["20251201"]; ok {
		t.Error("the 13th month back is kept")
	}
}
