package drill

import (
	"context"
	"fmt"
	"strings"

	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// FromService returns the Source of the backup service svc, whose
// locations are locs (the primary first) and whose live storage is
// core's: sandboxes are notebook storages made there and dropped.
func FromService(svc *backup.Service, core *store.Core, locs []location.Location) Source {
	return &service{svc: svc, core: core, locs: locs}
}

type service struct {
	svc  *backup.Service
	core *store.Core
	locs []location.Location
}

// Notebooks lists every notebook id of the instance of core.
func Notebooks(ctx context.Context, core *store.Core) ([]string, error) {
	return catalog.Strings(core.Inst.R.QueryContext(ctx, "SELECT id FROM "+core.Inst.Prefix+"notebooks ORDER BY id"))
}

func (s *service) Targets(ctx context.Context) ([]Target, error) {
	nbs, err := Notebooks(ctx, s.core)
	if err != nil {
		return nil, err
	}
	var out []Target
	for _, nb := range append([]string{""}, nbs...) {
		list, err := s.svc.List(ctx, nb)
		if err != nil {
			return nil, err
		}
		for _, sn := range list {
			if sn.Status != backup.StatusGood {
				continue
			}
			t := Target{Notebook: nb, Snapshot: sn.ID}
			if sn.Blobs > 0 {
				m, err := s.svc.Manifest(ctx, sn.ID, "")
				if err != nil {
					return nil, err
				}
				t.Blobs = m.Blobs
			}
			out = append(out, t)
			break
		}
	}
	return out, nil
}

func (s *service) Locations() []string {
	var out []string
	for _, l := range s.locs {
		out = append(out, l.Name)
	}
	return out
}

func (s *service) Verify(ctx context.Context, snapshot, loc string) error {
	rep, err := s.svc.Verify(ctx, snapshot, loc)
	if err != nil {
		return err
	}
	if !rep.OK {
		return fmt.Errorf("%s", strings.Join(rep.Problems, "; "))
	}
	return nil
}

func (s *service) Restore(ctx context.Context, snapshot, loc, sandbox string) (func(context.Context) error, error) {
	path, cleanup, err := s.svc.Image(ctx, snapshot, loc)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	// A sandbox left by a drill that died is dropped first.
	_ = s.core.Storage.DropNotebook(ctx, sandbox)
	if err := s.svc.Load(ctx, path, sandbox); err != nil {
		return nil, err // Load drops the storage it made
	}
	return func(ctx context.Context) error { return s.core.Storage.DropNotebook(ctx, sandbox) }, nil
}

func (s *service) CheckBlobs(ctx context.Context, snapshot, loc string, entries []blobs.Entry) ([]error, error) {
	rep, err := s.svc.CheckBlobs(ctx, snapshot, loc, entries)
	if err != nil {
		return nil, err
	}
	bad := make([]error, len(entries))
	byCID := map[string]error{}
	for _, p := range rep.Problems {
		byCID[p.ContentID] = p
	}
	for i, e := range entries {
		bad[i] = byCID[e.ContentID]
	}
	return bad, nil
}
