package backup

// Checking file blobs in a location by decrypting them: what a drill (and
// coffer backup verify) does beyond checking that their objects exist.

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/sealed"
)

// fileKeyAAD is the associated data under which a file's key is sealed by
// the keyring, in the notebook's scope (as package notebooks seals it).
func fileKeyAAD(fileID string) string { return "file:" + fileID }

// BlobProblem is a file blob of a snapshot that failed CheckBlobs. It
// names the file by id only: never its name, never its content.
type BlobProblem struct {
	ContentID string // the blob's content id (blobs.ContentID)
	FileID    string // the file it holds; "" when no file of the snapshot has that content id
	Problem   string // what failed, no secret, no user data
}

// Error returns the problem as one line naming the file id.
func (p BlobProblem) Error() string {
	if p.FileID == "" {
		return "blob " + p.ContentID[:min(12, len(p.ContentID))] + ": " + p.Problem
	}
	return "file " + p.FileID + ": " + p.Problem
}

// BlobReport is the outcome of CheckBlobs.
type BlobReport struct {
	Snapshot string
	Location string
	Checked  int   // blobs read to their end, decrypted and found intact
	Bytes    int64 // sealed bytes of those blobs
	// Problems has one entry per blob that failed, in the order of the
	// entries given.
	Problems []BlobProblem
}

// blobFile is a file row of a snapshot image: what opens its blob.
type blobFile struct {
	id, sha256 string
	size       int64 // plaintext
	wrappedKey []byte
}

// CheckBlobs reads each of the file blobs entries (a snapshot's manifest
// lists them) of good notebook snapshot id from location loc ("" for the
// primary) to its end, and checks it for real: it finds the file whose
// content id the entry has in the snapshot image's _files table, unwraps
// that file's key with the keyring (a notebook whose keys were destroyed
// has unreadable blobs), reads the whole plaintext through a sealed
// reader, whose AEAD checks every chunk, and compares its SHA-256 and
// size with the file's. A changed, short or misplaced blob is a problem in
// the report, not an error; errors are for an unknown snapshot or
// location (ENOTFOUND), a snapshot image that does not decrypt
// (EINTEGRITY) and a failing location.
func (s *Service) CheckBlobs(ctx context.Context, id, loc string, entries []blobs.Entry) (_ *BlobReport, err error) {
	defer func() { err = s.st.Wrap("backup.CheckBlobs", err) }()
	sn, err := s.good(ctx, id)
	if err != nil {
		return nil, err
	}
	l, err := s.Location(loc)
	if err != nil {
		return nil, err
	}
	rep := &BlobReport{Snapshot: id, Location: l.Name}
	if len(entries) == 0 {
		return rep, nil
	}
	if sn.Notebook == "" {
		return nil, coffer.Errorf(coffer.EINVALID, "the instance's snapshots hold no file blobs")
	}
	files, err := s.snapshotFiles(ctx, l.Store, sn.Notebook, id)
	if err != nil {
		return nil, err
	}
	// Blobs are read by a few workers (a remote location is
	// latency-bound); problems are reported in the order of entries.
	problems := make([]string, len(entries))
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		mu    sync.Mutex
		first error
	)
	for range min(blobWorkers, len(entries)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(entries) || cctx.Err() != nil {
					return
				}
				f, ok := files[entries[i].ContentID]
				if !ok {
					problems[i] = "no file of the snapshot has this blob"
					continue
				}
				p, err := s.checkBlob(cctx, l.Store, sn.Notebook, entries[i], f)
				if err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
					cancel()
					return
				}
				problems[i] = p
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, e := range entries {
		if problems[i] != "" {
			rep.Problems = append(rep.Problems, BlobProblem{ContentID: e.ContentID, FileID: files[e.ContentID].id, Problem: problems[i]})
			continue
		}
		rep.Checked++
		rep.Bytes += e.Length
	}
	return rep, nil
}

// blobWorkers is how many blobs CheckBlobs reads at once.
const blobWorkers = 4

// snapshotFiles decrypts snapshot id of notebook from l and returns its
// files by content id.
func (s *Service) snapshotFiles(ctx context.Context, l blob.Store, notebook, id string) (map[string]blobFile, error) {
	m, k, err := s.readManifest(ctx, l, notebook, id)
	if err != nil {
		return nil, err
	}
	dir, cleanup, err := s.tempDir()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	path, err := s.decrypt(ctx, l, m, k, dir)
	if err != nil {
		return nil, err
	}
	im, err := openImage(path)
	if err != nil {
		return nil, err
	}
	defer im.Close()
	macKey, err := s.st.Ring().Derive(ctx, notebook, BlobKeyPurpose)
	if err != nil {
		return nil, err
	}
	defer clear(macKey)
	rows, err := im.db.R.QueryContext(ctx, "SELECT id, sha256, size, file_key FROM _files")
	if err != nil {
		return nil, integrityErr("the image's files do not read")
	}
	defer rows.Close()
	out := map[string]blobFile{}
	for rows.Next() {
		var f blobFile
		if err := rows.Scan(&f.id, &f.sha256, &f.size, &f.wrappedKey); err != nil {
			return nil, integrityErr("the image's files do not read")
		}
		out[blobs.ContentID(macKey, f.id, f.sha256)] = f
	}
	if err := rows.Err(); err != nil {
		return nil, integrityErr("the image's files do not read")
	}
	return out, nil
}

// checkBlob reads the blob e of file f in l to its end, decrypted, and
// returns what is wrong with it ("" when nothing is); the error is for a
// failing location.
func (s *Service) checkBlob(ctx context.Context, l blob.Store, notebook string, e blobs.Entry, f blobFile) (string, error) {
	if e.Length != sealed.SealedSize(f.size) {
		return fmt.Sprintf("the blob has %d sealed bytes, the file's size needs %d", e.Length, sealed.SealedSize(f.size)), nil
	}
	key, err := s.st.Ring().Open(ctx, notebook, fileKeyAAD(f.id), f.wrappedKey)
	if err != nil {
		if coffer.ErrorCode(err) == coffer.EINTEGRITY {
			return "the file's key does not open (destroyed or changed)", nil
		}
		return "", err
	}
	defer clear(key)
	r, err := blobs.Open(ctx, l, e, key, f.id)
	if err != nil {
		return blobReadProblem(err)
	}
	if r.Size() != f.size {
		return "the blob's size does not match the file's", nil
	}
	rc, err := r.ReadRange(0, -1)
	if err != nil {
		return blobReadProblem(err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, blob.ContextReader(ctx, rc))
	if err != nil {
		return blobReadProblem(err)
	}
	want, derr := hex.DecodeString(f.sha256)
	if n != f.size || derr != nil || !hmac.Equal(h.Sum(nil), want) {
		return "the blob's content does not match the file's SHA-256", nil
	}
	return "", nil
}

// blobReadProblem sorts an error reading a blob into a problem (changed,
// short or missing bytes) or an error (a failing location).
func blobReadProblem(err error) (string, error) {
	switch {
	case errors.Is(err, sealed.ErrIntegrity):
		return "the blob does not decrypt: its bytes were changed", nil
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "the blob is shorter than recorded", nil
	case errors.Is(err, blob.ErrNotFound), coffer.ErrorCode(err) == coffer.ENOTFOUND:
		return "the blob's object is missing", nil
	case coffer.ErrorCode(err) == coffer.EINTEGRITY:
		return "the blob does not decrypt: its bytes were changed", nil
	}
	return "", err
}
