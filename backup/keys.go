package backup

// The keyring's own backup: short-lived, apart from snapshots.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/keyring"
)

// KeyringPrefix is the key prefix of keyring backups in a location.
const KeyringPrefix = "keyring/"

// KeyringBackup is one keyring backup: every data key not shredded,
// wrapped by the master keys as stored. Without the master key file it
// opens nothing; with it, it is what makes snapshots readable on a new
// machine. It is kept short (Config.KeyringKeep newest), so that a key
// shredded today is gone from every keyring backup within as many backups.
type KeyringBackup struct {
	Format  int                  `json:"format"`
	TakenAt time.Time            `json:"taken_at"`
	Keys    []keyring.WrappedKey `json:"keys"`
}

// BackupKeyring writes a keyring backup to keyring/<time> in the primary
// location, and in the second one unless it is locked (a locked location
// could not forget shredded keys), then deletes all but the newest
// Config.KeyringKeep there. It returns the object key written.
func (s *Service) BackupKeyring(ctx context.Context) (_ string, err error) {
	defer func() { err = s.st.Wrap("backup.BackupKeyring", err) }()
	keys, err := s.st.Ring().Export(ctx)
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	data, err := json.Marshal(KeyringBackup{Format: FormatVersion, TakenAt: now, Keys: keys})
	if err != nil {
		return "", coffer.Internal("backup.BackupKeyring", err)
	}
	key := KeyringPrefix + strings.ToLower(now.Format("20060102t150405.000000z"))
	locs := []blob.Store{s.cfg.Primary.Store}
	if s.cfg.Second != nil && !s.cfg.Second.Locked {
		locs = append(locs, s.cfg.Second.Store)
	}
	for _, l := range locs {
		if _, err := l.Put(ctx, key, bytes.NewReader(data)); err != nil {
			return "", err
		}
		names, err := keyringObjects(ctx, l)
		if err != nil {
			return "", err
		}
		for len(names) > s.cfg.KeyringKeep {
			if err := l.Delete(ctx, names[0]); err != nil {
				return "", err
			}
			names = names[1:]
		}
	}
	return key, nil
}

// keyringObjects lists the keyring backups in l, oldest first.
func keyringObjects(ctx context.Context, l blob.Store) ([]string, error) {
	var names []string
	err := l.List(ctx, KeyringPrefix, func(in blob.Info) error {
		names = append(names, in.Key)
		return nil
	})
	slices.Sort(names)
	return names, err
}

// LatestKeyring reads the newest keyring backup in location loc ("" for
// the primary); ENOTFOUND when there is none. Restore it with
// keyring.Ring.Import before loading an instance image on a new machine.
func (s *Service) LatestKeyring(ctx context.Context, loc string) (_ *KeyringBackup, err error) {
	defer func() { err = s.st.Wrap("backup.LatestKeyring", err) }()
	l, err := s.Location(loc)
	if err != nil {
		return nil, err
	}
	names, err := keyringObjects(ctx, l.Store)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "no keyring backup in location %s", l.Name)
	}
	rc, err := l.Store.Open(ctx, names[len(names)-1], 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var kb KeyringBackup
	if err := json.NewDecoder(io.LimitReader(rc, maxManifest)).Decode(&kb); err != nil {
		return nil, integrityErr("the keyring backup is not valid JSON")
	}
	if kb.Format != FormatVersion {
		return nil, integrityErr("unknown keyring backup format")
	}
	return &kb, nil
}
