package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/cofferhq/coffer/audit"
)

// tamperFixture makes a log of eight entries or more, checkpointed twice
// (the second checkpoint covers every entry), that verifies.
func tamperFixture(t *testing.T, open Opener) *auditFixture {
	t.Helper()
	s := open(t)
	f := newAuditFixture(t, s)
	for range 4 {
		_, u := MustUser(t, s)
		MustSession(t, s, u.Email)
	}
	f.checkpoint(t)
	for range 2 {
		MustUser(t, s)
	}
	f.checkpoint(t)
	f.mustVerify(t)
	return f
}

// wantTampered checks that Verify fails, naming entry firstBad (-1: no
// entry, only a checkpoint) and a problem containing what.
func (f *auditFixture) wantTampered(t *testing.T, firstBad int64, what string) {
	t.Helper()
	r, err := f.verify(t)
	if !errors.Is(err, audit.ErrTampered) {
		t.Fatalf("Verify after tampering: %v, want %v", err, audit.ErrTampered)
	}
	if r.FirstBad != firstBad {
		t.Errorf("first bad entry %d, want %d (problems %q)", r.FirstBad, firstBad, r.Problems)
	}
	if !strings.Contains(strings.Join(r.Problems, "\n"), what) {
		t.Errorf("problems %q: want one about %q", r.Problems, what)
	}
}

// record reads the bytes hashed for entry n.
func (f *auditFixture) record(t *testing.T, n int64) []byte {
	t.Helper()
	var b []byte
	q := f.s.Rebind("SELECT record FROM " + f.s.Inst.Prefix + "audit_entries WHERE idx = ?")
	if err := f.s.Inst.R.QueryRowContext(context.Background(), q, n).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

// moveEntry gives entry from the index to, which must be free.
func (f *auditFixture) moveEntry(t *testing.T, from, to int64) {
	f.exec(t, "UPDATE {p}audit_entries SET idx = ? WHERE idx = ?", to, from)
}

// testAuditTamper: Verify detects an edited, a deleted, an inserted and
// a reordered entry, a forged checkpoint, and a tail truncated together
// with its checkpoints in the database (against the checkpoints file).
func testAuditTamper(t *testing.T, open Opener) {
	t.Run("EditedColumn", func(t *testing.T) {
		f := tamperFixture(t, open)
		f.exec(t, "UPDATE {p}audit_entries SET ip = ? WHERE idx = ?", "203.0.113.9", 2)
		f.wantTampered(t, 2, "columns differ")
	})
	t.Run("EditedRecordToo", func(t *testing.T) {
		f := tamperFixture(t, open)
		b := f.record(t, 3)
		edited := bytes.Replace(b, []byte(`"ip":"-"`), []byte(`"ip":"203.0.113.9"`), 1)
		if bytes.Equal(b, edited) {
			t.Fatalf("record %s has no ip to edit", b)
		}
		f.exec(t, "UPDATE {p}audit_entries SET ip = ?, record = ? WHERE idx = ?", "203.0.113.9", edited, 3)
		f.wantTampered(t, 3, "does not match the hash stored")
	})
	t.Run("EditedWithTheTree", func(t *testing.T) {
		testAuditRewrittenTree(t, tamperFixture(t, open))
	})
	t.Run("Deleted", func(t *testing.T) {
		f := tamperFixture(t, open)
		f.exec(t, "DELETE FROM {p}audit_entries WHERE idx = ?", 4)
		f.wantTampered(t, 4, "entry 4 is missing")
	})
	t.Run("Inserted", func(t *testing.T) {
		f := tamperFixture(t, open)
		r := f.mustVerify(t)
		// Entries from 3 on move up by one, a copy of entry 0 takes 3.
		for n := r.Size - 1; n >= 3; n-- {
			f.moveEntry(t, n, n+1)
		}
		f.exec(t, "INSERT INTO {p}audit_entries (idx, at, kind, actor, user_id, email, org_id, ip, user_agent, detail, record) "+
			"SELECT 3, at, kind, actor, user_id, email, org_id, ip, user_agent, detail, record FROM {p}audit_entries WHERE idx = 0")
		f.wantTampered(t, 3, "columns differ")
	})
	t.Run("Reordered", func(t *testing.T) {
		f := tamperFixture(t, open)
		f.moveEntry(t, 2, -1)
		f.moveEntry(t, 5, 2)
		f.moveEntry(t, -1, 5)
		f.wantTampered(t, 2, "columns differ")
	})
	t.Run("ForgedCheckpoint", func(t *testing.T) {
		testAuditForged(t, tamperFixture(t, open))
	})
	t.Run("TruncatedTail", func(t *testing.T) {
		f := tamperFixture(t, open)
		r := f.mustVerify(t)
		keep := r.Size - 3
		// The tail goes with its hashes and the checkpoints that cover
		// it: what is left in the database is a consistent log.
		var hashes int64
		q := f.s.Rebind("SELECT count(*) FROM " + f.s.Inst.Prefix + "audit_hashes WHERE idx < ?")
		if err := f.s.Inst.R.QueryRowContext(context.Background(), q, audit.LeafIndex(keep)).Scan(&hashes); err != nil {
			t.Fatal(err)
		}
		f.exec(t, "DELETE FROM {p}audit_entries WHERE idx >= ?", keep)
		f.exec(t, "DELETE FROM {p}audit_hashes WHERE idx >= ?", hashes)
		f.exec(t, "DELETE FROM {p}audit_checkpoints WHERE size > ?", keep)
		f.exec(t, "UPDATE {p}audit_head SET size = ?", keep)
		if _, err := f.log.Verify(context.Background(), f.key, nil); err != nil {
			t.Errorf("the truncated log alone: %v; want it to verify (only the file outside shows the truncation)", err)
		}
		f.wantTampered(t, keep, "past the log's end")
	})
}

// testAuditForged: a checkpoint signed by another key of the same name,
// or whose text was changed after signing, is refused, in the database
// and in the file.
func testAuditForged(t *testing.T, f *auditFixture) {
	cps, err := f.log.Checkpoints(context.Background(), f.s.Inst.R, f.key)
	if err != nil || len(cps) != 2 {
		t.Fatalf("Checkpoints: %d, %v", len(cps), err)
	}
	last := cps[1]
	skey, _, err := note.GenerateKey(rand.Reader, f.key.Signer.Name())
	if err != nil {
		t.Fatal(err)
	}
	other, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.SplitN(string(last.Note), "\n\n", 2)[0] + "\n"
	forged, err := note.Sign(&note.Note{Text: text}, other)
	if err != nil {
		t.Fatal(err)
	}
	f.exec(t, "UPDATE {p}audit_checkpoints SET note = ? WHERE size = ?", string(forged), last.Size)
	f.wantTampered(t, -1, "not signed by the audit key")

	// The genuine note back in the database; the file gets a note whose
	// size was changed after signing.
	f.exec(t, "UPDATE {p}audit_checkpoints SET note = ? WHERE size = ?", string(last.Note), last.Size)
	f.mustVerify(t)
	lines := strings.SplitN(string(last.Note), "\n", 3)
	changed := lines[0] + "\n" + "1\n" + lines[2]
	file, err := os.OpenFile(filepath.Join(f.sink.Dir, audit.CheckpointsFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.WriteString(changed + "\n"); err != nil {
		t.Fatal(err)
	}
	file.Close()
	f.wantTampered(t, -1, "not signed by the audit key")
}

// testAuditRewrittenTree: an entry edited with its record bytes and the
// whole tree of stored hashes recomputed around it fits the database,
// but not the signed checkpoints, which name the range it lies in.
func testAuditRewrittenTree(t *testing.T, f *auditFixture) {
	r := f.mustVerify(t)
	cps, err := f.log.Checkpoints(context.Background(), f.s.Inst.R, f.key)
	if err != nil {
		t.Fatal(err)
	}
	b := f.record(t, 1)
	edited := bytes.Replace(b, []byte(`"ip":"-"`), []byte(`"ip":"203.0.113.9"`), 1)
	f.exec(t, "UPDATE {p}audit_entries SET ip = ?, record = ? WHERE idx = ?", "203.0.113.9", edited, 1)
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(ix))
		for i, x := range ix {
			out[i] = stored[x]
		}
		return out, nil
	})
	for n := int64(0); n < r.Size; n++ {
		hs, err := tlog.StoredHashes(n, f.record(t, n), reader)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	for i, h := range stored {
		f.exec(t, "UPDATE {p}audit_hashes SET hash = ? WHERE idx = ?", h[:], i)
	}
	f.wantTampered(t, -1, fmt.Sprintf("an entry from 0 to %d was changed", cps[0].Size-1))
}
