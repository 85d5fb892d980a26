// Package browse adapts the backup service to what browsing and restoring
// snapshots need (coffer.SnapshotSource): the notebooks service loads a
// snapshot into sandbox storage through it. cmd/coffer wires it:
//
//	st.SetSnapshots(browse.Source(bk), zone)
package browse

import (
	"context"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
)

// Source returns the snapshot source of the backup service b. Load reads
// the primary location first and the second one when the primary has
// lost or damaged the snapshot.
func Source(b *backup.Service) coffer.SnapshotSource { return &source{b: b} }

type source struct{ b *backup.Service }

var _ coffer.SnapshotSource = (*source)(nil)

// view is a snapshot as owners see it.
func view(sn *backup.Snapshot) *coffer.Snapshot {
	out := &coffer.Snapshot{ID: sn.ID, Notebook: sn.Notebook, Kind: sn.Kind, Status: sn.Status, StartedAt: sn.StartedAt,
		VerifiedAt: sn.VerifiedAt, Size: sn.Size, Rows: sn.Rows, Locations: append([]string{}, sn.Locations...)}
	if !sn.FinishedAt.IsZero() {
		t := sn.FinishedAt
		out.FinishedAt = &t
	}
	return out
}

func (s *source) Snapshots(ctx context.Context, notebook string) ([]*coffer.Snapshot, error) {
	if notebook == "" {
		return []*coffer.Snapshot{}, nil
	}
	list, err := s.b.List(ctx, notebook)
	if err != nil {
		return nil, err
	}
	out := make([]*coffer.Snapshot, 0, len(list))
	for _, sn := range list {
		out = append(out, view(sn))
	}
	return out, nil
}

func (s *source) Snapshot(ctx context.Context, id string) (*coffer.Snapshot, error) {
	sn, err := s.b.Find(ctx, id)
	if err != nil {
		return nil, err
	}
	if sn.Notebook == "" {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "snapshot not found")
	}
	return view(sn), nil
}

func (s *source) Load(ctx context.Context, id, storageID string) error {
	sn, err := s.b.Find(ctx, id)
	if err != nil {
		return err
	}
	locs := sn.Locations
	if len(locs) == 0 {
		locs = []string{""}
	}
	var first, damaged error
	for _, loc := range locs {
		err := s.load(ctx, id, loc, storageID)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
		c := coffer.ErrorCode(err)
		if c == coffer.EINTEGRITY && damaged == nil {
			damaged = err
		}
		if c != coffer.ENOTFOUND && c != coffer.EINTEGRITY {
			break
		}
	}
	if damaged != nil {
		return &coffer.Error{Code: coffer.ESNAPSHOTUNREADABLE, Message: "the snapshot cannot be read: its key was destroyed or its data is damaged", Op: "browse.Load", Err: damaged}
	}
	return first
}

func (s *source) load(ctx context.Context, id, loc, storageID string) error {
	path, cleanup, err := s.b.Image(ctx, id, loc)
	if err != nil {
		return err
	}
	defer cleanup()
	return s.b.Load(ctx, path, storageID)
}

func (s *source) Take(ctx context.Context, notebook, kind string) (*coffer.Snapshot, error) {
	sn, err := s.b.Snapshot(ctx, notebook, kind, true)
	if err != nil {
		return nil, err
	}
	return view(sn), nil
}
