// Package browse adapts the backup service to what browsing and restoring
// snapshots need (coffer.SnapshotSource): the notebooks service loads a
// snapshot into sandbox storage through it. cmd/coffer wires it:
//
//	st.SetSnapshots(browse.Source(bk), zone)
package browse

import (
	"context"
	"io"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/blobs"
)

// Source returns the snapshot source of the backup service b. Load reads
// the primary location first and the second one when the primary has
// lost or damaged the snapshot.
func Source(b *backup.Service) coffer.SnapshotSource { return &source{b: b} }

type source struct{ b *backup.Service }

var (
	_ coffer.SnapshotSource = (*source)(nil)
	_ coffer.SnapshotFiles  = (*source)(nil)
)

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

// FetchFile finds the blob of content id cid among the snapshot's blob
// entries (its manifest) and reads it, from the primary location or else
// the second.
func (s *source) FetchFile(ctx context.Context, id, cid string) (io.ReadCloser, error) {
	sn, err := s.b.Find(ctx, id)
	if err != nil {
		return nil, err
	}
	locs := sn.Locations
	if len(locs) == 0 {
		locs = []string{""}
	}
	var first error
	for _, loc := range locs {
		rc, err := s.fetch(ctx, id, loc, cid)
		if err == nil {
			return rc, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

func (s *source) fetch(ctx context.Context, id, loc, cid string) (io.ReadCloser, error) {
	m, err := s.b.Manifest(ctx, id, loc)
	if err != nil {
		return nil, err
	}
	l, err := s.b.Location(loc)
	if err != nil {
		return nil, err
	}
	for _, e := range m.Blobs {
		if e.ContentID == cid {
			return blobs.Fetch(ctx, l.Store, e)
		}
	}
	return nil, coffer.Errorf(coffer.ENOTFOUND, "the snapshot does not hold this file")
}
