package ship

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/sealed"
	"github.com/cofferhq/coffer/keyring"
)

// RestoreAt writes to out (a new file) the SQLite database of notebook
// as it was at time at, from the WAL shipped to st: the newest generation
// that began at or before at, its base and every segment shipped at or
// before at. It holds every transaction committed an interval (the
// shipper's) or more before at, and none committed after at. The file is
// checked with integrity_check and left in rollback-journal mode, ready
// for backup's Load. No generation reaching back to at is ENOTFOUND; a
// missing segment, a changed byte or a shredded key is EINTEGRITY.
func RestoreAt(ctx context.Context, st blob.Store, ring *keyring.Ring, notebook string, at time.Time, out string) (err error) {
	gens, err := Generations(ctx, st, notebook)
	if err != nil {
		return err
	}
	var g *Generation
	for _, c := range gens {
		if !c.Began.IsZero() && !c.Began.After(at) {
			g = c // oldest first: the last one is the newest
		}
	}
	if g == nil {
		return coffer.Errorf(coffer.ENOTFOUND, "no shipped WAL of notebook %s reaches back to %s", notebook, at.UTC().Format(time.RFC3339))
	}
	rc, err := st.Open(ctx, keyObject(notebook, g.ID), 0, -1)
	if err != nil {
		return err
	}
	wrapped, err := io.ReadAll(io.LimitReader(rc, 4096))
	rc.Close()
	if err != nil {
		return err
	}
	key, err := ring.Open(ctx, notebook, keyAAD(notebook, g.ID), wrapped)
	if err != nil {
		return err
	}
	defer clear(key)

	tmp := out + ".restoring"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
				os.Remove(tmp + suffix)
			}
		}
	}()
	base, err := openSealed(ctx, st, baseObject(notebook, g.ID), key)
	if err != nil {
		return integrityOr(err)
	}
	_, err = io.Copy(f, base)
	base.Close()
	if err != nil {
		return integrityOr(err)
	}
	// A segment shipped again after a failed round (to another location,
	// say) holds the first one's frames and more: both apply, in order.
	prev := 0
	for _, seg := range g.Segments {
		if seg.At.After(at) {
			if seg.Seq == prev {
				continue
			}
			break
		}
		if seg.Seq != prev && seg.Seq != prev+1 {
			return coffer.Errorf(coffer.EINTEGRITY, "shipped WAL of notebook %s: segment %d of generation %s is missing", notebook, prev+1, g.ID)
		}
		prev = seg.Seq
		r, err := openSealed(ctx, st, seg.Object, key)
		if err != nil {
			return integrityOr(err)
		}
		err = readSegment(r, func(ps int, pgno, commit uint32, page []byte) error {
			return applyFrame(f, ps, pgno, commit, page)
		})
		r.Close()
		if err != nil {
			return integrityOr(err)
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		f = nil
		return err
	}
	f = nil
	if err := checkImage(ctx, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// integrityOr returns err as EINTEGRITY when it is a sealed object's
// failed check, else unchanged.
func integrityOr(err error) error {
	if errors.Is(err, sealed.ErrIntegrity) {
		return &coffer.Error{Code: coffer.EINTEGRITY, Message: "shipped WAL failed its integrity check", Err: err}
	}
	return err
}

// checkImage runs integrity_check on the database file at path and
// switches it to rollback-journal mode, so that it is one self-contained
// file.
func checkImage(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath())
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return &coffer.Error{Code: coffer.EINTEGRITY, Message: "the restored database does not open", Err: err}
	}
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	rows.Close()
	if len(problems) > 0 {
		return coffer.Errorf(coffer.EINTEGRITY, "the restored database fails integrity_check: %s", strings.Join(problems, "; "))
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode=DELETE").Scan(&mode); err != nil {
		return err
	}
	if mode != "delete" {
		return fmt.Errorf("ship: restored database stays in journal mode %s", mode)
	}
	return nil
}

// Prune deletes from st the generations of notebook that no restore to a
// time at or after keepFrom needs: those older than the newest generation
// that began at or before keepFrom, and those whose start failed, begun
// before keepFrom. Call it with the time of the oldest snapshot kept (the
// shipped WAL serves restores since then). It returns the number of
// objects deleted. Never on a location under object lock.
func Prune(ctx context.Context, st blob.Store, notebook string, keepFrom time.Time) (deleted int, err error) {
	gens, err := Generations(ctx, st, notebook)
	if err != nil {
		return 0, err
	}
	newest := -1
	for i, g := range gens {
		if !g.Began.IsZero() && !g.Began.After(keepFrom) {
			newest = i
		}
	}
	for i, g := range gens {
		old := i < newest
		if g.Began.IsZero() {
			old = generationTime(g.ID).Before(keepFrom)
		}
		if !old {
			continue
		}
		for _, key := range g.Objects {
			if err := st.Delete(ctx, key); err != nil {
				return deleted, err
			}
			deleted++
		}
	}
	return deleted, nil
}

// Notebooks lists the notebooks with shipped WAL in st.
func Notebooks(ctx context.Context, st blob.Store) ([]string, error) {
	seen := map[string]bool{}
	err := st.List(ctx, "wal/", func(in blob.Info) error {
		rest := strings.TrimPrefix(in.Key, "wal/")
		if nb, _, ok := strings.Cut(rest, "/"); ok && coffer.ValidID(coffer.PrefixNotebook, nb) {
			seen[nb] = true
		}
		return nil
	})
	out := make([]string, 0, len(seen))
	for nb := range seen {
		out = append(out, nb)
	}
	sortStrings(out)
	return out, err
}

// generationTime is the time in a generation id.
func generationTime(id string) time.Time {
	us, _, _ := strings.Cut(strings.TrimPrefix(id, "g"), "-")
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMicro(n)
}
