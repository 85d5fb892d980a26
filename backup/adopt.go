package backup

// Adopting the snapshots of a location into the catalogue: disaster
// recovery onto an empty machine, whose catalogue is empty (written by
// bk-ops for `coffer restore --instance`; see cmd/coffer/restore.go).

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/store"
)

// AdoptReport is what Adopt did.
type AdoptReport struct {
	Adopted  int      // snapshots recorded in the catalogue
	Known    int      // snapshots the catalogue held already
	Unusable []string // snapshot ids whose manifest does not check (keys destroyed, changed, unreadable)
}

// Adopt records in the catalogue, as good and held by location loc ("" for
// the primary), every snapshot of that location whose manifest checks
// under the keyring (restore the keyring first: LatestKeyring, then
// keyring.Ring.Import). A manifest is written last, so each adopted
// snapshot is complete. Snapshots the catalogue already holds are left
// as they are. It is for disaster recovery onto an empty machine, by an
// operator; it checks no caller.
func (s *Service) Adopt(ctx context.Context, loc string) (*AdoptReport, error) {
	l, err := s.Location(loc)
	if err != nil {
		return nil, err
	}
	type found struct{ notebook, id string }
	var list []found
	err = l.Store.List(ctx, "snapshots/", func(in blob.Info) error {
		parts := strings.Split(in.Key, "/")
		if len(parts) != 4 || parts[3] != "manifest" || !coffer.ValidID(PrefixSnapshot, parts[2]) {
			return nil
		}
		nb := parts[1]
		if nb == InstanceDir {
			nb = ""
		} else if !coffer.ValidID(coffer.PrefixNotebook, nb) {
			return nil
		}
		list = append(list, found{nb, parts[2]})
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep := &AdoptReport{}
	inst := s.st.Inst
	for _, f := range list {
		if _, err := s.Find(ctx, f.id); err == nil {
			rep.Known++
			continue
		} else if coffer.ErrorCode(err) != coffer.ENOTFOUND {
			return rep, err
		}
		m, _, err := s.readManifest(ctx, l.Store, f.notebook, f.id)
		if err != nil {
			if coffer.ErrorCode(err) == coffer.EINTEGRITY || coffer.ErrorCode(err) == coffer.ENOTFOUND {
				rep.Unusable = append(rep.Unusable, f.id)
				continue
			}
			return rep, err
		}
		tables, err := json.Marshal(m.Tables)
		if err != nil {
			return rep, err
		}
		locs, _ := json.Marshal([]string{l.Name})
		var blobBytes int64
		for _, e := range m.Blobs {
			blobBytes += e.Length
		}
		at := m.TakenAt.UnixMicro()
		err = s.st.Write(ctx, inst, "backup.Adopt", func(tx *store.WriteTx) error {
			_, err := tx.ExecContext(ctx, s.st.Rebind("INSERT INTO "+inst.Prefix+"backup_snapshots (id, notebook, kind, status, started_at, heartbeat_at, finished_at, "+
				"size, image_size, rows, tables, blobs, blob_bytes, locations, schema_version, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
				m.ID, m.Notebook, m.Kind, StatusGood, at, at, at, m.SealedSize, m.ImageSize, m.Rows, string(tables), len(m.Blobs), blobBytes, string(locs),
				m.SchemaVersion, m.KeyID)
			return err
		})
		if err != nil {
			return rep, err
		}
		rep.Adopted++
	}
	return rep, nil
}
