package backup

// Reading snapshots back: the manifest, the decrypted image, verification.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/sealed"
)

// Location returns the configured location named name ("" is the
// primary), or ENOTFOUND.
func (s *Service) Location(name string) (location.Location, error) {
	switch {
	case name == "" || name == s.cfg.Primary.Name:
		return s.cfg.Primary, nil
	case s.cfg.Second != nil && name == s.cfg.Second.Name:
		return *s.cfg.Second, nil
	}
	return location.Location{}, coffer.Errorf(coffer.ENOTFOUND, "no backup location named %q", name)
}

// good returns snapshot id if it is good, else ENOTFOUND.
func (s *Service) good(ctx context.Context, id string) (*Snapshot, error) {
	sn, err := s.Find(ctx, id)
	if err != nil {
		return nil, err
	}
	if sn.Status != StatusGood {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "snapshot not found (it is %s)", sn.Status)
	}
	return sn, nil
}

// Manifest reads and checks the manifest of good snapshot id in location
// loc ("" for the primary): its MAC under the snapshot key, which the
// keyring must still hold. A changed manifest, or one whose notebook's
// keys were destroyed, is EINTEGRITY; an unknown snapshot ENOTFOUND. The
// blob entries in it locate the snapshot's files (backup/blobs.Fetch).
func (s *Service) Manifest(ctx context.Context, id, loc string) (_ *Manifest, err error) {
	defer func() { err = s.st.Wrap("backup.Manifest", err) }()
	sn, err := s.good(ctx, id)
	if err != nil {
		return nil, err
	}
	l, err := s.Location(loc)
	if err != nil {
		return nil, err
	}
	m, _, err := s.readManifest(ctx, l.Store, sn.Notebook, id)
	return m, err
}

// Image decrypts good snapshot id from location loc ("" for the primary)
// into a temporary SQLite file and returns its path; cleanup removes it.
// The image is checked on the way (the sealed object's size and SHA-256
// against the manifest, every chunk's tag), not its tables (see Verify).
// It streams: the sealed object is read once, straight into the
// decrypted file (chunk tags, the header MAC and the final chunk's flag
// authenticate it; Verify also checks the object's SHA-256).
// The file is plaintext: open it read-only, and call cleanup soon.
// Errors: ENOTFOUND (unknown snapshot or location), EINTEGRITY (changed
// bytes, destroyed keys).
func (s *Service) Image(ctx context.Context, id, loc string) (path string, cleanup func(), err error) {
	defer func() { err = s.st.Wrap("backup.Image", err) }()
	sn, err := s.good(ctx, id)
	if err != nil {
		return "", nil, err
	}
	l, err := s.Location(loc)
	if err != nil {
		return "", nil, err
	}
	m, k, err := s.readManifest(ctx, l.Store, sn.Notebook, id)
	if err != nil {
		return "", nil, err
	}
	dir, cleanup, err := s.tempDir()
	if err != nil {
		return "", nil, err
	}
	path, err = s.decryptStream(ctx, l.Store, m, k, dir)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return path, cleanup, nil
}

// decrypt downloads the sealed image of m into dir, checking its size and
// SHA-256, then opens it into dir/image.db and returns that path.
func (s *Service) decrypt(ctx context.Context, l blob.Store, m *Manifest, k *snapKey, dir string) (string, error) {
	rc, err := l.Open(ctx, imageKey(m.Notebook, m.ID), 0, -1)
	if err != nil {
		return "", err
	}
	sealedPath := filepath.Join(dir, "image.sealed")
	f, err := os.OpenFile(sealedPath, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		rc.Close()
		return "", err
	}
	defer os.Remove(sealedPath)
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), blob.ContextReader(ctx, rc))
	rc.Close()
	if err != nil {
		return "", err
	}
	if n != m.SealedSize {
		return "", integrityErr(fmt.Sprintf("the image has %d bytes, the manifest says %d", n, m.SealedSize))
	}
	want, err := hex.DecodeString(m.SealedSHA256)
	if err != nil || !hmac.Equal(h.Sum(nil), want) {
		return "", integrityErr("the image's SHA-256 does not match the manifest")
	}
	return writePlain(ctx, func(off, n int64) (io.ReadCloser, error) {
		return io.NopCloser(io.NewSectionReader(f, off, n)), nil
	}, m, k, dir)
}

// decryptStream opens the sealed image of m in place, by ranges of the
// location's object, and writes its plaintext into dir/image.db, whose
// path it returns: no staged copy of the sealed object. A shorter or
// changed object fails the chunks' tags (EINTEGRITY).
func (s *Service) decryptStream(ctx context.Context, l blob.Store, m *Manifest, k *snapKey, dir string) (string, error) {
	key := imageKey(m.Notebook, m.ID)
	return writePlain(ctx, func(off, n int64) (io.ReadCloser, error) {
		return l.Open(ctx, key, off, n)
	}, m, k, dir)
}

// writePlain decrypts the sealed image of m, read through open, into
// dir/image.db and returns that path.
func writePlain(ctx context.Context, open func(off, n int64) (io.ReadCloser, error), m *Manifest, k *snapKey, dir string) (string, error) {
	r, err := sealed.NewReader(open, m.SealedSize, k.key, imageFileID(m.ID))
	if err != nil {
		return "", sealedErr(err)
	}
	if r.Size() != m.ImageSize {
		return "", integrityErr("the image's size does not match the manifest")
	}
	pr, err := r.ReadRange(0, -1)
	if err != nil {
		return "", sealedErr(err)
	}
	defer pr.Close()
	path := filepath.Join(dir, "image.db")
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(out, blob.ContextReader(ctx, pr)); err != nil {
		out.Close()
		return "", sealedErr(err)
	}
	return path, out.Close()
}

func sealedErr(err error) error {
	if errors.Is(err, sealed.ErrIntegrity) || errors.Is(err, io.ErrUnexpectedEOF) {
		return integrityErr("the sealed image does not open")
	}
	return err
}

// Verify reads good snapshot id back from location loc ("" for the
// primary) and checks everything: the manifest's MAC, the sealed image's
// size and SHA-256, every chunk's tag, SQLite's integrity_check of the
// decrypted image, each table's row count and keyed hash against the
// manifest, and that every blob object the manifest lists is present.
// Problems are in the report (OK false), never as an error; errors are
// for an unknown snapshot or location (ENOTFOUND) or a failing location.
// A verification without problems is recorded (Snapshot.VerifiedAt).
func (s *Service) Verify(ctx context.Context, id, loc string) (_ *VerifyReport, err error) {
	defer func() { err = s.st.Wrap("backup.Verify", err) }()
	start := time.Now()
	sn, err := s.good(ctx, id)
	if err != nil {
		return nil, err
	}
	l, err := s.Location(loc)
	if err != nil {
		return nil, err
	}
	rep := &VerifyReport{Snapshot: id, Location: l.Name}
	problem := func(err error) (*VerifyReport, error) {
		if coffer.ErrorCode(err) == coffer.EINTEGRITY || errors.Is(err, blob.ErrNotFound) {
			rep.Problems = append(rep.Problems, coffer.ErrorMessage(err))
			rep.Took = time.Since(start)
			return rep, nil
		}
		return nil, err
	}
	m, k, err := s.readManifest(ctx, l.Store, sn.Notebook, id)
	if err != nil {
		return problem(err)
	}
	dir, cleanup, err := s.tempDir()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	path, err := s.decrypt(ctx, l.Store, m, k, dir)
	if err != nil {
		return problem(err)
	}
	rep.Size = m.SealedSize
	im, err := openImage(path)
	if err != nil {
		return nil, err
	}
	defer im.Close()
	// integrity_check on a connection of its own, while the tables are
	// summed on the other.
	type checked struct {
		bad []string
		err error
	}
	ich := make(chan checked, 1)
	go func() {
		im2, err := openImage(path)
		if err != nil {
			ich <- checked{err: err}
			return
		}
		defer im2.Close()
		bad, err := im2.integrity(ctx)
		ich <- checked{bad, err}
	}()
	sums, rows, serr := im.sums(ctx, sn.Notebook, k.sumHash())
	ic := <-ich
	if ic.err != nil {
		return problem(integrityErr("the image is not a readable database"))
	}
	for _, b := range ic.bad {
		rep.Problems = append(rep.Problems, "integrity_check: "+b)
	}
	switch {
	case serr != nil && len(ic.bad) == 0:
		return problem(integrityErr("the image's tables do not read"))
	case serr == nil:
		rep.Tables, rep.Rows = len(sums), rows
		rep.Problems = append(rep.Problems, compareSums(m.Tables, sums)...)
	}
	for _, obj := range blobs.Objects(m.Blobs) {
		if _, err := l.Store.Stat(ctx, obj); err != nil {
			if coffer.ErrorCode(err) == coffer.ENOTFOUND {
				rep.Problems = append(rep.Problems, "a file blob object is missing")
				continue
			}
			return nil, err
		}
	}
	rep.Blobs = len(m.Blobs)
	rep.OK = len(rep.Problems) == 0
	rep.Took = time.Since(start)
	if rep.OK {
		if err := s.markVerified(ctx, id, s.now()); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// compareSums lists the differences between the manifest's tables and
// the image's.
func compareSums(want, got []TableSum) []string {
	var out []string
	have := map[string]TableSum{}
	for _, g := range got {
		have[g.Table] = g
	}
	for _, w := range want {
		g, ok := have[w.Table]
		delete(have, w.Table)
		switch {
		case !ok:
			out = append(out, "table "+w.Table+" is missing from the image")
		case g.Rows != w.Rows:
			out = append(out, fmt.Sprintf("table %s has %d rows, the manifest says %d", w.Table, g.Rows, w.Rows))
		case g.Hash != w.Hash:
			out = append(out, "table "+w.Table+"'s hash does not match the manifest")
		}
	}
	for t := range have {
		out = append(out, "table "+t+" is in the image, not in the manifest")
	}
	return out
}

// BlobKeyPurpose is the purpose (keyring.Ring.Derive) of the per-notebook
// key of file blobs' content ids in backups.
const BlobKeyPurpose = "backup blob ids"

// OpenBlob returns the sealed blob of file fileID (whose plaintext has
// SHA-256 sha256Hex, as in the image's _files row) held by good snapshot
// id in location loc, byte for byte as it was in the files store, and its
// length: restoring a file puts it back under its blob key (the file key
// in the image's _files row opens it). ENOTFOUND when the snapshot does
// not hold that file.
func (s *Service) OpenBlob(ctx context.Context, id, loc, fileID, sha256Hex string) (_ io.ReadCloser, _ int64, err error) {
	defer func() { err = s.st.Wrap("backup.OpenBlob", err) }()
	sn, err := s.good(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	if sn.Notebook == "" {
		return nil, 0, coffer.Errorf(coffer.ENOTFOUND, "file not found in the snapshot")
	}
	l, err := s.Location(loc)
	if err != nil {
		return nil, 0, err
	}
	m, _, err := s.readManifest(ctx, l.Store, sn.Notebook, id)
	if err != nil {
		return nil, 0, err
	}
	macKey, err := s.st.Ring().Derive(ctx, sn.Notebook, BlobKeyPurpose)
	if err != nil {
		return nil, 0, err
	}
	cid := blobs.ContentID(macKey, fileID, sha256Hex)
	clear(macKey)
	for _, e := range m.Blobs {
		if e.ContentID == cid {
			rc, err := blobs.Fetch(ctx, l.Store, e)
			return rc, e.Length, err
		}
	}
	return nil, 0, coffer.Errorf(coffer.ENOTFOUND, "file not found in the snapshot")
}
