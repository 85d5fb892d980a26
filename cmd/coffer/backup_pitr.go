package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/backup/ship"
	"github.com/cofferhq/coffer/keyring"
)

// Point-in-time restore from shipped WAL (backup/ship), offered to
// browsing and restoring as a snapshot whose id names a notebook and a
// time: "pit_<notebook id>_<unix seconds>". Every restore kind (records,
// table, notebook, as a copy) and ?snapshot= reads then work at any
// moment the shipped WAL reaches, through the same access checks.

// pointPrefix starts the id of a point in time.
const pointPrefix = "pit_"

// pointID is the snapshot id of notebook nb at time at (to the second).
func pointID(nb string, at time.Time) string {
	return fmt.Sprintf("%s%s_%d", pointPrefix, nb, at.Unix())
}

// parsePoint reads a point-in-time id.
func parsePoint(id string) (nb string, at time.Time, ok bool) {
	rest, ok := strings.CutPrefix(id, pointPrefix)
	if !ok {
		return "", time.Time{}, false
	}
	i := strings.LastIndexByte(rest, '_')
	if i < 0 {
		return "", time.Time{}, false
	}
	sec, err := strconv.ParseInt(rest[i+1:], 10, 64)
	if err != nil || sec <= 0 || !coffer.ValidID(coffer.PrefixNotebook, rest[:i]) {
		return "", time.Time{}, false
	}
	return rest[:i], time.Unix(sec, 0).UTC(), true
}

// pointSource is a snapshot source that adds points in time to the
// backup service's snapshots.
type pointSource struct {
	coffer.SnapshotSource
	svc  *backup.Service
	ring *keyring.Ring
	locs []location.Location
	tmp  string
	off  string // why point-in-time restore is off, or "" (pointOff)
}

var errPointNotFound = coffer.Errorf(coffer.ENOTFOUND, "snapshot not found")

// reaches reports whether the shipped WAL of nb in l reaches back to at.
func reaches(ctx context.Context, l location.Location, nb string, at time.Time) bool {
	gens, err := ship.Generations(ctx, l.Store, nb)
	if err != nil {
		return false
	}
	for _, g := range gens {
		if !g.Began.IsZero() && !g.Began.After(at) {
			return true
		}
	}
	return false
}

func (p *pointSource) Snapshot(ctx context.Context, id string) (*coffer.Snapshot, error) {
	nb, at, ok := parsePoint(id)
	if !ok {
		return p.SnapshotSource.Snapshot(ctx, id)
	}
	var names []string
	for _, l := range p.locs {
		if reaches(ctx, l, nb, at) {
			names = append(names, l.Name)
		}
	}
	if len(names) == 0 || at.After(time.Now()) {
		return nil, errPointNotFound
	}
	return &coffer.Snapshot{ID: id, Notebook: nb, Kind: "point_in_time", Status: coffer.SnapshotGood, StartedAt: at, FinishedAt: &at, Locations: names}, nil
}

func (p *pointSource) Load(ctx context.Context, id, storageID string) error {
	nb, at, ok := parsePoint(id)
	if !ok {
		return p.SnapshotSource.Load(ctx, id, storageID)
	}
	var first error
	for _, l := range p.locs {
		err := p.loadFrom(ctx, l, nb, at, storageID)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	if coffer.ErrorCode(first) == coffer.EINTEGRITY {
		return &coffer.Error{Code: coffer.ESNAPSHOTUNREADABLE, Message: "the shipped log cannot be read: its key was destroyed or its data is damaged", Op: "pointSource.Load", Err: first}
	}
	return first
}

func (p *pointSource) loadFrom(ctx context.Context, l location.Location, nb string, at time.Time, storageID string) error {
	dir, err := os.MkdirTemp(p.tmp, "pit-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "notebook.db")
	if err := ship.RestoreAt(ctx, l.Store, p.ring, nb, at, out); err != nil {
		return err
	}
	return p.svc.Load(ctx, out, storageID)
}
