package storetest

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/audit"
	"github.com/cofferhq/coffer/store/all"
)

// RunAudit runs the suite of the audit log (files audit_*.go): appends,
// checkpoints, proofs, verification and its detection of tampering,
// pruning, the organizations' parts, and the absence of secrets.
func RunAudit(t *testing.T, open Opener) {
	runGroups(t, open, []group{
		{"AuditLog", testAuditLog},
		{"AuditTamper", testAuditTamper},
		{"AuditPrune", testAuditPrune},
		{"AuditOrgs", testAuditOrgs},
		{"AuditNoSecrets", testAuditNoSecrets},
		{"AuditConcurrent", func(t *testing.T, open Opener) {
			s := open(t)
			ConcurrentAudit(t, s, s)
		}},
	})
}

// auditFixture is a store with a checkpoint key and a directory for the
// checkpoints file.
type auditFixture struct {
	s    *all.Store
	log  *audit.Log
	key  *audit.Key
	sink audit.Sink
}

func newAuditFixture(t *testing.T, s *all.Store) *auditFixture {
	t.Helper()
	origin, err := s.Identity.Audit.Origin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(origin, audit.OriginPrefix) {
		t.Errorf("origin %q, want %s…", origin, audit.OriginPrefix)
	}
	dir := t.TempDir()
	k, err := audit.LoadOrCreateKey(dir, origin)
	if err != nil {
		t.Fatal(err)
	}
	return &auditFixture{s: s, log: s.Identity.Audit, key: k, sink: audit.Sink{Dir: dir}}
}

// checkpoint signs a checkpoint, which must be a new one.
func (f *auditFixture) checkpoint(t *testing.T) *audit.Checkpoint {
	t.Helper()
	c, err := f.log.Checkpoint(context.Background(), f.key, f.sink)
	if err != nil || c == nil {
		t.Fatalf("Checkpoint: %v, %v", c, err)
	}
	return c
}

// verify runs Verify with the checkpoints file.
func (f *auditFixture) verify(t *testing.T) (*audit.Report, error) {
	t.Helper()
	notes, err := audit.ReadCheckpointsFile(f.sink.Dir)
	if err != nil {
		t.Fatal(err)
	}
	return f.log.Verify(context.Background(), f.key, notes)
}

func (f *auditFixture) mustVerify(t *testing.T) *audit.Report {
	t.Helper()
	r, err := f.verify(t)
	if err != nil {
		t.Fatalf("Verify: %v (problems %q)", err, r.Problems)
	}
	return r
}

// exec runs a statement on the instance database, "{p}" standing for
// its tables' prefix.
func (f *auditFixture) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	q := f.s.Rebind(strings.ReplaceAll(query, "{p}", f.s.Inst.Prefix))
	if _, err := f.s.Inst.W.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// operator creates an instance operator and returns its caller context.
func auditOperator(t *testing.T, s *all.Store) context.Context {
	t.Helper()
	n := userSeq.Add(1)
	op, err := s.CreateUser(context.Background(), coffer.UserInput{Email: fmt.Sprintf("op%d@example.com", n), Name: "Operator", Password: TestPassword, Operator: true})
	if err != nil {
		t.Fatal(err)
	}
	return CallerContext(op)
}

// allEntries pages through the whole log as ctx's caller, checking that
// pages are newest first and do not overlap.
func allEntries(t *testing.T, ctx context.Context, s *all.Store, org string, f coffer.AuditFilter) []*coffer.AuditEntry {
	t.Helper()
	var out []*coffer.AuditEntry
	for range 1000 {
		var page *coffer.AuditPage
		var err error
		if org == "" {
			page, err = s.AuditLog(ctx, f)
		} else {
			page, err = s.OrgAuditLog(ctx, org, f)
		}
		if err != nil {
			t.Fatalf("audit page: %v", err)
		}
		for _, e := range page.Entries {
			if n := len(out); n > 0 && out[n-1].Index <= e.Index {
				t.Fatalf("entry %d after %d: want newest first", e.Index, out[n-1].Index)
			}
			out = append(out, e)
		}
		if page.NextCursor == nil {
			return out
		}
		f.Cursor = *page.NextCursor
	}
	t.Fatal("the pages never end")
	return nil
}

// testAuditLog: events append entries at consecutive indexes; checkpoints
// are signed, written to the database and the file; the log verifies;
// every entry has a checked inclusion proof; the list filters and pages.
func testAuditLog(t *testing.T, open Opener) {
	s := open(t)
	f := newAuditFixture(t, s)
	opCtx := auditOperator(t, s)
	var users []*coffer.User
	for range 3 {
		_, u := MustUser(t, s)
		users = append(users, u)
		MustSession(t, s, u.Email)
	}
	c1 := f.checkpoint(t)
	if again, err := f.log.Checkpoint(context.Background(), f.key, f.sink); err != nil || again != nil {
		t.Errorf("a checkpoint with no new entry: %v, %v; want none", again, err)
	}
	if _, err := s.Login(context.Background(), users[0].Email, "not the password, not at all"); coffer.ErrorCode(err) != coffer.EUNAUTHORIZED {
		t.Fatalf("wrong password: %v", err)
	}
	c2 := f.checkpoint(t)
	if c2.Size != c1.Size+1 {
		t.Errorf("checkpoint sizes %d then %d, want one more entry", c1.Size, c2.Size)
	}
	r := f.mustVerify(t)
	if r.Size != c2.Size || r.Checkpoints != 2 || r.FileCheckpoints != 2 || r.FirstBad != -1 {
		t.Errorf("report %+v", r)
	}
	entries := allEntries(t, opCtx, s, "", coffer.AuditFilter{Limit: 2})
	if int64(len(entries)) != c2.Size || entries[0].Index != c2.Size-1 || entries[len(entries)-1].Index != 0 {
		t.Fatalf("%d entries listed, want %d from %d down to 0", len(entries), c2.Size, c2.Size-1)
	}
	testAuditProofs(t, f, entries, c2)
	testAuditFilters(t, s, opCtx, users, entries)
}

// testAuditProofs checks the inclusion proof of every entry, and that a
// proof does not fit another entry or another index.
func testAuditProofs(t *testing.T, f *auditFixture, entries []*coffer.AuditEntry, c *audit.Checkpoint) {
	ctx := context.Background()
	for _, e := range entries {
		p, err := f.log.Prove(ctx, e.Index, f.key)
		if err != nil {
			t.Fatalf("Prove(%d): %v", e.Index, err)
		}
		leaf := tlog.RecordHash(p.Record)
		if base64.StdEncoding.EncodeToString(leaf[:]) != e.Hash || p.Checkpoint.Size != c.Size {
			t.Errorf("entry %d: listed hash %s, proof's record hash %x, checkpoint %d", e.Index, e.Hash, leaf, p.Checkpoint.Size)
		}
		if err := tlog.CheckRecord(p.Hashes, c.Size, c.Root, e.Index, leaf); err != nil {
			t.Errorf("entry %d: %v", e.Index, err)
		}
		other := tlog.RecordHash([]byte("another entry"))
		if tlog.CheckRecord(p.Hashes, c.Size, c.Root, e.Index, other) == nil {
			t.Errorf("entry %d: the proof fits another record", e.Index)
		}
		if e.Index > 0 && tlog.CheckRecord(p.Hashes, c.Size, c.Root, e.Index-1, leaf) == nil {
			t.Errorf("entry %d: the proof fits index %d", e.Index, e.Index-1)
		}
		if !strings.Contains(p.String(), e.Hash) {
			t.Errorf("the printed proof of %d does not show its hash", e.Index)
		}
	}
	if _, err := f.log.Prove(ctx, c.Size, f.key); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("Prove past the checkpoint: %v, want not_found", err)
	}
}

// testAuditFilters checks the list's filters and its refusals.
func testAuditFilters(t *testing.T, s *all.Store, opCtx context.Context, users []*coffer.User, entries []*coffer.AuditEntry) {
	created := allEntries(t, opCtx, s, "", coffer.AuditFilter{Kind: coffer.EventUserCreated})
	if len(created) != 4 { // three users and the operator
		t.Errorf("%d user.created entries, want 4", len(created))
	}
	for _, e := range created {
		if e.Kind != coffer.EventUserCreated || e.UserID == "" || e.Email == "" {
			t.Errorf("entry %+v", e)
		}
	}
	at := entries[len(entries)/2].At
	since := allEntries(t, opCtx, s, "", coffer.AuditFilter{Since: at})
	until := allEntries(t, opCtx, s, "", coffer.AuditFilter{Until: at})
	if len(since)+len(until) != len(entries) || len(since) == 0 {
		t.Errorf("since %d + until %d entries, want %d", len(since), len(until), len(entries))
	}
	for _, e := range since {
		if e.At.Before(at) {
			t.Errorf("entry at %v listed since %v", e.At, at)
		}
	}
	nobody := allEntries(t, opCtx, s, "", coffer.AuditFilter{Actor: users[0].ID})
	if len(nobody) != 0 { // logins have no signed-in actor yet
		t.Errorf("%d entries by %s, want 0", len(nobody), users[0].ID)
	}
	for _, bad := range []coffer.AuditFilter{{Cursor: "x"}, {Limit: -1}, {Limit: audit.MaxLimit + 1}, {Since: at, Until: at.Add(-time.Second)}} {
		if _, err := s.AuditLog(opCtx, bad); coffer.ErrorCode(err) != coffer.EINVALID {
			t.Errorf("AuditLog(%+v): %v, want invalid", bad, err)
		}
	}
	userCtx := CallerContext(users[0])
	if _, err := s.AuditLog(userCtx, coffer.AuditFilter{}); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Errorf("AuditLog by a user: %v, want forbidden", err)
	}
}
