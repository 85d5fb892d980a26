package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup/ship"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/local"
	"github.com/cofferhq/coffer/store/sqlite"
)

// shipMoments is the number of random moments at which the loss is
// measured; shipWriteEvery the pace of the acknowledged writes.
const (
	shipMoments    = 8
	shipWriteEvery = 20 * time.Millisecond
)

// shipResult is the recovery point measured with WAL shipping: at random
// moments of a steady stream of writes, how old the oldest acknowledged
// write missing from a point-in-time restore to that moment was.
type shipResult struct {
	interval      time.Duration
	writes        int
	losses        []time.Duration // one per moment, sorted
	lostWrites    int             // the most writes lost at one moment
	lostOld       int             // writes lost that were acknowledged an interval or more before their moment (promised: none)
	segments      int
	shipped       int64 // bytes of the shipped objects
	restoreMedian time.Duration
}

func (s *shipResult) worst() time.Duration  { return s.losses[len(s.losses)-1] }
func (s *shipResult) median() time.Duration { return s.losses[len(s.losses)/2] }

// ackedWrite is one record whose create returned.
type ackedWrite struct {
	id string
	at time.Time
}

// runShipBench ships the WAL of a notebook of its own (a Shipper set as
// the SQLite backend's hook, before that notebook is opened) while one
// writer creates a record every shipWriteEvery, for long enough that a
// generation begins and ships segments over 1.5 intervals. Then, for
// each of shipMoments random moments after the generation began, it
// restores the notebook as it was at that moment (ship.RestoreAt) and
// finds the acknowledged writes missing. nil on PostgreSQL, whose WAL
// archiving is the operator's.
func runShipBench(ctx context.Context, env *benchEnv, dir string, interval time.Duration) (_ *shipResult, err error) {
	sb, ok := env.backend.(*sqlite.Backend)
	if !ok {
		return nil, nil
	}
	loc, err := local.Open(filepath.Join(dir, "wal"))
	if err != nil {
		return nil, err
	}
	defer loc.Close()
	tmp := filepath.Join(dir, "ship-tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	sh, err := ship.New(ship.Config{Backend: sb, Ring: env.st.Ring(), Stores: []blob.Store{loc}, Interval: interval, TempDir: tmp})
	if err != nil {
		return nil, err
	}
	defer sb.SetWALHook(nil) // notebooks opened later are not shipped
	owner := env.owner(ctx)
	nb, err := env.st.CreateNotebook(owner, "Shipping bench")
	if err != nil {
		return nil, err
	}
	tbl, err := env.st.CreateTable(owner, nb.ID, coffer.TableInput{Name: "Ledger", Columns: backupColumns})
	if err != nil {
		return nil, err
	}
	sh.Start()
	defer sh.Close()

	// Write until the generation has shipped over 1.5 intervals.
	var acked []ackedWrite
	rng := rand.New(rand.NewPCG(23, 23))
	var began time.Time
	tick := time.NewTicker(shipWriteEvery)
	defer tick.Stop()
	for deadline := time.Now().Add(10 * interval); ; {
		rec, err := env.st.CreateRecord(owner, nb.ID, tbl.ID, backupFields(rng, len(acked)))
		if err != nil {
			return nil, err
		}
		acked = append(acked, ackedWrite{rec.ID, time.Now()})
		if began.IsZero() && len(acked)%25 == 0 {
			if began, err = generationBegan(ctx, loc, nb.ID); err != nil {
				return nil, err
			}
		}
		if !began.IsZero() && time.Since(began) > interval*3/2 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("bench ship: no generation began in %s", 10*interval)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
	end := acked[len(acked)-1].at
	res := &shipResult{interval: interval, writes: len(acked)}
	var restores []time.Duration
	for i := range shipMoments {
		at := began.Add(time.Duration(rng.Int64N(int64(end.Sub(began)))))
		out := filepath.Join(tmp, fmt.Sprintf("restore-%d.db", i))
		start := time.Now()
		if err := ship.RestoreAt(ctx, loc, env.st.Ring(), nb.ID, at, out); err != nil {
			return nil, fmt.Errorf("bench ship: restore at %s: %w", at.Format(time.RFC3339Nano), err)
		}
		restores = append(restores, time.Since(start))
		have, err := imageRecordIDs(ctx, out, tbl.ID)
		os.Remove(out)
		if err != nil {
			return nil, err
		}
		loss, lost := time.Duration(0), 0
		for _, w := range acked {
			if !w.at.After(at) && !have[w.id] {
				if lost == 0 {
					loss = at.Sub(w.at)
				}
				lost++
				if at.Sub(w.at) >= interval {
					res.lostOld++
				}
			}
		}
		res.losses = append(res.losses, loss)
		res.lostWrites = max(res.lostWrites, lost)
	}
	slices.Sort(res.losses)
	res.restoreMedian = percentile(restores, 0.5)
	gens, err := ship.Generations(ctx, loc, nb.ID)
	if err != nil {
		return nil, err
	}
	for _, g := range gens {
		res.segments += len(g.Segments)
	}
	err = loc.List(ctx, ship.Prefix(nb.ID), func(in blob.Info) error { res.shipped += in.Size; return nil })
	return res, err
}

// generationBegan is when the first complete generation of notebook's
// shipped WAL began (zero: none yet).
func generationBegan(ctx context.Context, st blob.Store, notebook string) (time.Time, error) {
	gens, err := ship.Generations(ctx, st, notebook)
	if err != nil {
		return time.Time{}, err
	}
	for _, g := range gens {
		if !g.Began.IsZero() {
			return g.Began, nil
		}
	}
	return time.Time{}, nil
}

// imageRecordIDs reads the ids of the records of table in the SQLite
// image at path.
func imageRecordIDs(ctx context.Context, path, table string) (map[string]bool, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT id FROM "t_`+strings.TrimPrefix(table, coffer.PrefixTable)+`"`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		have[id] = true
	}
	return have, rows.Err()
}
