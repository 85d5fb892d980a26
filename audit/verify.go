package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cofferhq/coffer/store"
)

// Report is what Verify found.
type Report struct {
	Size            int64 // entries appended, pruned ones included
	First           int64 // first entry kept
	Checkpoints     int   // checkpoints in the database
	FileCheckpoints int   // checkpoints in the file outside it
	// FirstBad is the index of the first entry that does not fit, or -1.
	FirstBad int64
	Problems []string
}

func (r *Report) problem(at int64, format string, args ...any) {
	if at >= 0 && (r.FirstBad < 0 || at < r.FirstBad) {
		r.FirstBad = at
	}
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// ErrTampered is returned by Verify when the log does not verify.
var ErrTampered = errors.New("the audit log does not verify")

// snapshot is the log as read in one transaction.
type snapshot struct {
	head    *head
	records map[int64][]byte // index → stored record bytes
	stored  []tlog.Hash      // the database's stored hashes
	mem     []tlog.Hash      // the stored hashes recomputed from the entries
}

func (s *snapshot) memReader() tlog.HashReader {
	return tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) { return pick(s.mem, ix) })
}

func (s *snapshot) storedReader() tlog.HashReader {
	return tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) { return pick(s.stored, ix) })
}

func pick(hs []tlog.Hash, ix []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(ix))
	for i, x := range ix {
		if x < 0 || x >= int64(len(hs)) {
			return nil, fmt.Errorf("stored hash %d is missing", x)
		}
		out[i] = hs[x]
	}
	return out, nil
}

// Verify recomputes the whole tree from the entries (and, for a pruned
// prefix, from its kept hashes), checks that every entry's columns match
// the bytes hashed, that every checkpoint in the database and in
// fileNotes (the checkpoints file) is signed by k, matches the tree, and
// that consecutive checkpoints are consistent (tree proofs). It returns
// the report, and ErrTampered naming the first entry that does not fit
// when anything is wrong.
func (l *Log) Verify(ctx context.Context, k *Key, fileNotes [][]byte) (*Report, error) {
	tx, err := l.core.Inst.R.BeginTx(ctx, &sql.TxOptions{Isolation: l.core.Inst.SnapshotIsolation, ReadOnly: true})
	if err != nil {
		return nil, l.core.Wrap("audit.Verify", err)
	}
	defer tx.Rollback()
	r := &Report{FirstBad: -1}
	s, err := l.readSnapshot(ctx, tx, r)
	if err != nil {
		return nil, l.core.Wrap("audit.Verify", err)
	}
	r.Size, r.First = s.head.size, s.head.first
	cps, err := l.checkpointRows(ctx, tx, k, r)
	if err != nil {
		return nil, l.core.Wrap("audit.Verify", err)
	}
	l.checkCheckpoints(s, cps, r)
	r.FileCheckpoints = len(fileNotes)
	checkFile(s, cps, fileNotes, k, r)
	if len(r.Problems) > 0 {
		if r.FirstBad >= 0 {
			return r, fmt.Errorf("%w: entry %d is the first that does not fit: %s", ErrTampered, r.FirstBad, r.Problems[0])
		}
		return r, fmt.Errorf("%w: %s", ErrTampered, r.Problems[0])
	}
	return r, nil
}

// readSnapshot reads the head, every entry and every stored hash, checks
// each entry against its columns and recomputes the tree.
func (l *Log) readSnapshot(ctx context.Context, q Querier, r *Report) (*snapshot, error) {
	s := &snapshot{records: map[int64][]byte{}}
	h, err := l.readHead(ctx, q, false)
	if errors.Is(err, sql.ErrNoRows) {
		h, err = &head{}, nil
	}
	if err != nil {
		return nil, err
	}
	s.head = h
	if err := l.readEntries(ctx, q, s, r); err != nil {
		return nil, err
	}
	if s.stored, err = readAllHashes(ctx, q, l.table("audit_hashes")); err != nil {
		return nil, err
	}
	for n := int64(0); n < h.size; n++ {
		var leaf tlog.Hash
		if b, ok := s.records[n]; ok {
			leaf = tlog.RecordHash(b)
		} else if i := tlog.StoredHashIndex(0, n); n < h.first && i < int64(len(s.stored)) {
			leaf = s.stored[i] // pruned: its kept leaf hash
		} else {
			r.problem(n, "entry %d is missing", n)
			leaf = tlog.Hash{} // keeps the indexes of what follows
		}
		if i := tlog.StoredHashIndex(0, n); i < int64(len(s.stored)) && s.stored[i] != leaf && n >= h.first {
			r.problem(n, "entry %d does not match the hash stored for it in the tree", n)
		}
		hs, err := tlog.StoredHashesForRecordHash(n, leaf, s.memReader())
		if err != nil {
			return nil, err
		}
		s.mem = append(s.mem, hs...)
	}
	return s, nil
}

// readEntries reads the entries and checks that each one's columns are
// its hashed bytes, at its index.
func (l *Log) readEntries(ctx context.Context, q Querier, s *snapshot, r *Report) error {
	rows, err := q.QueryContext(ctx, "SELECT "+entryCols+" FROM "+l.table("audit_entries")+" ORDER BY idx")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		rec, b, err := scanRecord(rows)
		if err != nil {
			return err
		}
		switch {
		case b == nil:
			r.problem(rec.Index, "entry %d has never been sealed (start the server once)", rec.Index)
		case rec.Index < s.head.first:
			r.problem(rec.Index, "entry %d lies in the pruned prefix (before %d)", rec.Index, s.head.first)
		case rec.Index >= s.head.size:
			r.problem(rec.Index, "entry %d lies past the log's end (%d entries): it was inserted", rec.Index, s.head.size)
		case !bytes.Equal(rec.bytes(), b):
			r.problem(rec.Index, "entry %d: its columns differ from the bytes hashed for it (%s)", rec.Index, b)
		}
		if b != nil {
			s.records[rec.Index] = b
		}
	}
	return rows.Err()
}

// readAllHashes reads every stored hash, in index order; a gap leaves a
// zero hash, which then fails to match.
func readAllHashes(ctx context.Context, q Querier, table string) ([]tlog.Hash, error) {
	rows, err := q.QueryContext(ctx, "SELECT idx, hash FROM "+table+" ORDER BY idx")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tlog.Hash
	for rows.Next() {
		var idx int64
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			return nil, err
		}
		if idx < int64(len(out)) || idx > 1<<40 {
			continue
		}
		for int64(len(out)) < idx {
			out = append(out, tlog.Hash{})
		}
		var h tlog.Hash
		copy(h[:], b)
		out = append(out, h)
	}
	return out, rows.Err()
}

// checkpointRows reads the database's checkpoints, reporting those whose
// signature or form is bad.
func (l *Log) checkpointRows(ctx context.Context, q Querier, k *Key, r *Report) ([]*Checkpoint, error) {
	rows, err := q.QueryContext(ctx, "SELECT size, note, at FROM "+l.table("audit_checkpoints")+" ORDER BY size")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Checkpoint
	for rows.Next() {
		var size, at int64
		var msg string
		if err := rows.Scan(&size, &msg, &at); err != nil {
			return nil, err
		}
		r.Checkpoints++
		c, err := OpenCheckpoint([]byte(msg), k)
		if err != nil {
			r.problem(-1, "the checkpoint of size %d in the database is not signed by the audit key: %v", size, err)
			continue
		}
		if c.Size != size {
			r.problem(-1, "the checkpoint stored as size %d says size %d", size, c.Size)
			continue
		}
		c.At = store.FromMicros(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// checkCheckpoints checks each checkpoint against the recomputed tree,
// each against the one before (a consistency proof from the stored
// hashes) and the dropped ranges they record.
func (l *Log) checkCheckpoints(s *snapshot, cps []*Checkpoint, r *Report) {
	var prev *Checkpoint
	good := matchingSizes(s, cps)
	for _, c := range cps {
		checkOne(s, c, "in the database", lastMatching(good, c.Size), r)
		if c.Origin != s.head.origin {
			r.problem(-1, "the checkpoint of size %d names origin %q, the log is %q", c.Size, c.Origin, s.head.origin)
		}
		wantFrom := int64(0)
		if prev != nil {
			wantFrom = prev.DroppedTo
			if c.Size <= s.head.size {
				p, err := tlog.ProveTree(c.Size, prev.Size, s.storedReader())
				if err == nil {
					err = tlog.CheckTree(p, c.Size, c.Root, prev.Size, prev.Root)
				}
				if err != nil {
					r.problem(-1, "the checkpoints of sizes %d and %d are not consistent: %v", prev.Size, c.Size, err)
				}
			}
		}
		if c.DroppedTo > c.DroppedFrom && c.DroppedFrom != wantFrom {
			r.problem(-1, "the checkpoint of size %d records entries [%d, %d) dropped, after [.., %d)", c.Size, c.DroppedFrom, c.DroppedTo, wantFrom)
		}
		prev = c
	}
	if s.head.first > 0 && !isCheckpointSize(cps, s.head.first) {
		r.problem(s.head.first, "entries before %d were dropped, which is not the size of a checkpoint", s.head.first)
	}
}

func isCheckpointSize(cps []*Checkpoint, n int64) bool {
	for _, c := range cps {
		if c.Size == n {
			return true
		}
	}
	return false
}

// matches reports whether a checkpoint's root is the recomputed tree's.
func matches(s *snapshot, c *Checkpoint) bool {
	if c.Size > s.head.size {
		return false
	}
	root, err := tlog.TreeHash(c.Size, s.memReader())
	return err == nil && root == c.Root
}

// lastMatching is the size of the largest checkpoint smaller than size
// that matches the recomputed tree (0 when none); good lists the sizes of
// the matching checkpoints, ascending.
func lastMatching(good []int64, size int64) int64 {
	i, _ := slices.BinarySearch(good, size)
	if i == 0 {
		return 0
	}
	return good[i-1]
}

// matchingSizes lists the sizes of the checkpoints (ascending) that match
// the recomputed tree.
func matchingSizes(s *snapshot, cps []*Checkpoint) []int64 {
	var good []int64
	for _, c := range cps {
		if matches(s, c) {
			good = append(good, c.Size)
		}
	}
	return good
}

// checkOne checks a checkpoint's root against the recomputed tree; good
// is the size of a smaller checkpoint that matches, which bounds where a
// change can be.
func checkOne(s *snapshot, c *Checkpoint, where string, good int64, r *Report) {
	if c.Size > s.head.size {
		r.problem(s.head.size, "the checkpoint of size %d %s is past the log's end (%d entries): entries from %d on were removed",
			c.Size, where, s.head.size, s.head.size)
		return
	}
	if !matches(s, c) {
		r.problem(-1, "the checkpoint of size %d %s does not match the entries: an entry from %d to %d was changed, removed, inserted or moved",
			c.Size, where, good, c.Size-1)
	}
}

// checkFile checks the checkpoints written outside the database.
func checkFile(s *snapshot, cps []*Checkpoint, notes [][]byte, k *Key, r *Report) {
	good := matchingSizes(s, cps)
	inDB := map[int64]tlog.Hash{}
	for _, c := range cps {
		inDB[c.Size] = c.Root
	}
	for i, msg := range notes {
		c, err := OpenCheckpoint(msg, k)
		if err != nil {
			r.problem(-1, "checkpoint %d of %s is not signed by the audit key: %v", i+1, CheckpointsFile, err)
			continue
		}
		if root, ok := inDB[c.Size]; ok && root != c.Root {
			r.problem(-1, "the checkpoint of size %d differs between the database and %s", c.Size, CheckpointsFile)
		}
		checkOne(s, c, "in "+CheckpointsFile, lastMatching(good, c.Size), r)
	}
}

// Proof is an inclusion proof of one entry in a checkpoint.
type Proof struct {
	Index      int64
	Leaf       tlog.Hash
	Record     []byte // nil for a pruned entry
	Checkpoint *Checkpoint
	Hashes     tlog.RecordProof
}

// String renders the proof for people and scripts: the entry, its leaf
// hash, the checkpoint and the proof's hashes, base64.
func (p *Proof) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "entry %d\nleaf hash %s\n", p.Index, base64.StdEncoding.EncodeToString(p.Leaf[:]))
	if p.Record != nil {
		fmt.Fprintf(&b, "record %s\n", p.Record)
	}
	fmt.Fprintf(&b, "proof against the checkpoint of size %d (%d hashes):\n", p.Checkpoint.Size, len(p.Hashes))
	for _, h := range p.Hashes {
		fmt.Fprintf(&b, "%s\n", base64.StdEncoding.EncodeToString(h[:]))
	}
	fmt.Fprintf(&b, "checkpoint:\n%s", p.Checkpoint.Note)
	return b.String()
}

// Prove returns the inclusion proof of entry n in the latest checkpoint,
// checked (tlog.CheckRecord) before it is returned. ENOTFOUND when no
// checkpoint covers the entry yet.
func (l *Log) Prove(ctx context.Context, n int64, k *Key) (*Proof, error) {
	q := l.core.Inst.R
	cps, err := l.Checkpoints(ctx, q, k)
	if err != nil {
		return nil, l.core.Wrap("audit.Prove", err)
	}
	if len(cps) == 0 || n < 0 || n >= cps[len(cps)-1].Size {
		return nil, ErrEmpty
	}
	c := cps[len(cps)-1]
	r := l.reader(ctx, q)
	p := &Proof{Index: n, Checkpoint: c}
	leaf, err := r.ReadHashes([]int64{tlog.StoredHashIndex(0, n)})
	if err != nil {
		return nil, l.core.Wrap("audit.Prove", err)
	}
	p.Leaf = leaf[0]
	err = q.QueryRowContext(ctx, l.core.Rebind("SELECT record FROM "+l.table("audit_entries")+" WHERE idx = ?"), n).Scan(&p.Record)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, l.core.Wrap("audit.Prove", err)
	}
	if p.Record != nil && tlog.RecordHash(p.Record) != p.Leaf {
		return nil, fmt.Errorf("%w: entry %d does not match the hash stored for it", ErrTampered, n)
	}
	if p.Hashes, err = tlog.ProveRecord(c.Size, n, r); err != nil {
		return nil, l.core.Wrap("audit.Prove", err)
	}
	if err := tlog.CheckRecord(p.Hashes, c.Size, c.Root, n, p.Leaf); err != nil {
		return nil, fmt.Errorf("%w: the proof of entry %d does not check against the checkpoint: %v", ErrTampered, n, err)
	}
	return p, nil
}
