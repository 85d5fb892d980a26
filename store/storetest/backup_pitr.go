package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

func init() {
	historyGroups = append(historyGroups, group{"BackupsPointInTime", testRestoreAt})
}

// pointSnapshots serves points in time from a CopySnapshots: a time at
// or after the snapshot's start is the snapshot (as a shipped log would
// serve it), an earlier one is out of reach.
type pointSnapshots struct {
	*CopySnapshots
	snap *coffer.Snapshot
	asks int
}

func (p *pointSnapshots) PointInTime(ctx context.Context, notebook string, at time.Time) (string, error) {
	p.asks++
	if notebook != p.snap.Notebook || at.Before(p.snap.StartedAt) {
		return "", coffer.Errorf(coffer.EPOINTINTIME, "%s is before the oldest shipped write-ahead log", at.Format(time.RFC3339))
	}
	return p.snap.ID, nil
}

// testRestoreAt: a restore to a point in time (RestoreInput.At) runs as
// one from the snapshot the source names, with the same access rules
// (checked before the source is asked: a caller without restore learns
// nothing of the shipped log's reach); times in the future or out of
// reach, and a source without points in time, are refused with their
// codes, writing nothing.
func testRestoreAt(t *testing.T, open Opener) {
	s := open(t)
	f := newBackupFixture(t, s)
	ptr := func(t time.Time) *time.Time { return &t }
	in := func(at time.Time) coffer.RestoreInput {
		return coffer.RestoreInput{At: &at, Table: "Staff", Records: []string{f.x.ID}}
	}
	// A source without points in time (PostgreSQL, shipping off).
	_, err := s.Restore(f.ctx, f.nb, in(s.Now()))
	wantCode(t, err, coffer.EPOINTINTIMEOFF)
	_, err = s.Restore(f.vctx, f.nb, in(s.Now()))
	wantCode(t, err, coffer.ENOTFOUND) // no restore capability: as for a snapshot

	p := &pointSnapshots{CopySnapshots: f.src, snap: f.snap}
	s.SetSnapshots(p, nil)
	before := fieldsOf(t, f.ctx, s, f.nb, "Staff")
	for _, c := range []struct {
		ctx  context.Context
		in   coffer.RestoreInput
		code string
	}{
		{f.vctx, in(s.Now()), coffer.ENOTFOUND},
		{f.vctx, in(f.snap.StartedAt.Add(-time.Hour)), coffer.ENOTFOUND},
		{f.ctx, in(s.Now().Add(time.Hour)), coffer.EPOINTINTIME},
		{f.ctx, in(f.snap.StartedAt.Add(-time.Hour)), coffer.EPOINTINTIME},
		{f.ctx, coffer.RestoreInput{At: ptr(s.Now()), Snapshot: f.snap.ID, Table: "Staff", Records: []string{f.x.ID}}, coffer.EINVALID},
		{f.ctx, coffer.RestoreInput{At: &time.Time{}, Table: "Staff", Records: []string{f.x.ID}}, coffer.EINVALID},
	} {
		_, err := s.Restore(c.ctx, f.nb, c.in)
		wantCode(t, err, c.code)
	}
	if p.asks != 1 {
		t.Errorf("the source was asked %d times, want once (only for Alice's time out of reach)", p.asks)
	}
	_, err = s.Restore(f.ctx, f.other, in(s.Now()))
	wantCode(t, err, coffer.EPOINTINTIME) // another notebook's log does not serve it
	if got := fieldsOf(t, f.ctx, s, f.nb, "Staff"); got["x2"] == "" || len(got) != len(before) {
		t.Errorf("a refused restore wrote: %v, was %v", got, before)
	}

	// Uma holds restore on the red rows: x comes back as it was.
	job, err := s.Restore(f.uctx, f.nb, in(s.Now()))
	if err != nil || job.Status != "done" || job.Snapshot != f.snap.ID || job.Result.Seq == 0 {
		t.Fatalf("restore at now: %+v, %v", job, err)
	}
	if got := MustFindRecord(t, f.ctx, s, f.nb, "Staff", f.x.ID); got.Fields["Name"] != "x" {
		t.Errorf("x after the restore to a point in time: %v", got.Fields["Name"])
	}
	// The whole notebook as a copy, in the background.
	job, err = s.Restore(f.ctx, f.nb, coffer.RestoreInput{At: ptr(s.Now()), Mode: coffer.RestoreCopy})
	if err != nil {
		t.Fatal(err)
	}
	if job = waitRestore(t, f, job); job.Status != "done" || job.Result.Notebook == nil {
		t.Fatalf("copy to a point in time: %+v", job)
	}
	if got := fieldsOf(t, f.ctx, s, job.Result.Notebook.ID, "Staff"); got["y"] == "" || got["z"] != "" {
		t.Errorf("the copy at a point in time: %v", got)
	}
}
