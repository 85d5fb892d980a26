package backup

// Taking a snapshot.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/sealed"
)

// Snapshot takes a snapshot of notebook ("" for the instance database) of
// kind (KindDaily, KindManual, KindSafety) and returns it, good. A notebook
// unchanged since its last good snapshot is not snapshotted again: that
// snapshot is returned (its ID tells), unless force is set. The instance
// is always snapshotted.
//
// The snapshot is recorded running first and marked good only once its
// image, blobs and manifest are durable in the primary location; then
// they are copied to the second location (a failure there is logged and
// the snapshot stays good, listing only the primary). Writers of the
// notebook are never blocked. A snapshot of a notebook already being
// taken (by this or another process) is ECONFLICT; an unknown notebook is
// ENOTFOUND. It is for the backup worker, operators and services that
// checked the caller's right; it checks none itself.
func (s *Service) Snapshot(ctx context.Context, notebook, kind string, force bool) (*Snapshot, error) {
	switch kind {
	case KindDaily, KindManual, KindSafety:
	default:
		return nil, coffer.Errorf(coffer.EINVALID, "a snapshot's kind is daily, manual or safety")
	}
	if notebook != "" && !coffer.ValidID(coffer.PrefixNotebook, notebook) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "notebook not found")
	}
	unlock := s.locks.lock(notebook)
	defer unlock()
	if notebook != "" && !force {
		prev, err := s.lastGood(ctx, notebook)
		if err != nil {
			return nil, err
		}
		if prev != nil {
			now, err := s.liveFingerprint(ctx, notebook)
			if err != nil {
				return nil, err
			}
			if now == prev.state {
				return prev, nil
			}
		}
	}
	id := coffer.NewID(PrefixSnapshot)
	if err := s.begin(ctx, id, notebook, kind); err != nil {
		return nil, err
	}
	stop := s.heartbeat(ctx, id)
	var err error
	s.sweeping.RLock()
	var sn *Snapshot
	// The image and its sealing yield the processor to requests.
	lowPriority(func() { sn, err = s.take(ctx, id, notebook, kind) })
	s.sweeping.RUnlock()
	stop()
	if err == nil {
		err = s.finish(ctx, sn)
	}
	if err != nil {
		s.fail(id, err)
		s.log.Error("backup: snapshot failed", "snapshot", id, "notebook", notebook, "err", err)
		return nil, s.st.Wrap("backup.Snapshot", err)
	}
	s.progress(Progress{Snapshot: id, Notebook: notebook, Phase: "done"})
	s.log.Info("backup: snapshot taken", "snapshot", id, "notebook", notebook, "size", sn.Size, "rows", sn.Rows, "blobs", sn.Blobs,
		"took", sn.FinishedAt.Sub(sn.StartedAt).Round(time.Millisecond))
	return sn, nil
}

// take makes, seals and writes snapshot id; the caller records it.
func (s *Service) take(ctx context.Context, id, notebook, kind string) (*Snapshot, error) {
	started := s.now()
	dir, cleanup, err := s.tempDir()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	s.progress(Progress{Snapshot: id, Notebook: notebook, Phase: "image"})
	path, err := s.makeImage(ctx, notebook, dir)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	s.progress(Progress{Snapshot: id, Notebook: notebook, Phase: "sums"})
	k, err := s.newKey(ctx, notebook, id)
	if err != nil {
		return nil, err
	}
	sn := &Snapshot{ID: id, Notebook: notebook, Kind: kind, Status: StatusGood, StartedAt: started, KeyID: k.keyID}
	m := &Manifest{Format: FormatVersion, ID: id, Notebook: notebook, Kind: kind, Backend: s.st.Dialect.Name(), TakenAt: started.UTC(),
		KeyID: k.keyID, WrappedKey: k.wrapped}
	im, err := openImage(path)
	if err != nil {
		return nil, err
	}
	// The image is read (sums, versions, files) while it is sealed: two
	// passes over it at once, on two cores when there are.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var refs []fileRef
	read := make(chan error, 1)
	go func() {
		read <- func() error {
			defer im.Close()
			var err error
			if m.SchemaVersion, m.Migration, err = im.versions(rctx, notebook); err != nil {
				return err
			}
			if m.Tables, m.Rows, err = im.sums(rctx, notebook, k.sumHash()); err != nil {
				return err
			}
			if notebook != "" {
				if sn.state, err = fingerprint(rctx, im.db.R, ""); err != nil {
					return err
				}
				if refs, err = im.fileRefs(rctx); err != nil {
					return err
				}
			}
			return nil
		}()
	}()
	primary := s.cfg.Primary
	if err := s.sealImage(ctx, primary.Store, path, m, k); err != nil {
		cancel()
		<-read
		return nil, fmt.Errorf("seal image: %w", err)
	}
	if err := <-read; err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	if len(refs) > 0 && s.cfg.Files != nil {
		s.progress(Progress{Snapshot: id, Notebook: notebook, Phase: "blobs", Total: int64(len(refs))})
		if m.Blobs, err = s.backupBlobs(ctx, notebook, refs); err != nil {
			return nil, fmt.Errorf("file blobs: %w", err)
		}
	}
	data, err := encodeManifest(m, k)
	if err != nil {
		return nil, err
	}
	if _, err := primary.Store.Put(ctx, manifestKey(notebook, id), bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	sn.Locations = []string{primary.Name}
	if s.cfg.Second != nil {
		s.progress(Progress{Snapshot: id, Notebook: notebook, Phase: "replicate"})
		if err := s.replicate(ctx, *s.cfg.Second, notebook, id); err != nil {
			s.log.Error("backup: copy to the second location failed", "snapshot", id, "location", s.cfg.Second.Name, "err", err)
			sn.Error = "not copied to the second location " + s.cfg.Second.Name
		} else {
			sn.Locations = append(sn.Locations, s.cfg.Second.Name)
		}
	}
	sn.Size, sn.ImageSize, sn.Rows, sn.Tables = m.SealedSize, m.ImageSize, m.Rows, m.Tables
	sn.SchemaVersion = m.SchemaVersion
	sn.Blobs = len(m.Blobs)
	for _, e := range m.Blobs {
		sn.BlobBytes += e.Length
	}
	sn.FinishedAt = s.now()
	return sn, nil
}

// sealImage streams the image at path, sealed under k, into l as the
// snapshot's image object, and records its sizes and hash in m.
func (s *Service) sealImage(ctx context.Context, l blob.Store, path string, m *Manifest, k *snapKey) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	m.ImageSize = st.Size()
	h := sha256.New()
	var sealedSize int64
	_, err = blob.PutWith(ctx, l, imageKey(m.Notebook, m.ID), func(w io.Writer) error {
		cw := &countWriter{w: io.MultiWriter(w, h)}
		sw, err := sealed.NewWriter(blob.ContextWriter(ctx, cw), k.key, imageFileID(m.ID))
		if err != nil {
			return err
		}
		pr := &progressReader{r: f, total: m.ImageSize, report: func(done, total int64) {
			s.progress(Progress{Snapshot: m.ID, Notebook: m.Notebook, Phase: "seal", Done: done, Total: total})
		}}
		if _, err := io.Copy(sw, pr); err != nil {
			sw.Abandon()
			return err
		}
		if err := sw.Close(); err != nil {
			return err
		}
		sealedSize = cw.n
		return nil
	})
	if err != nil {
		return err
	}
	m.SealedSize = sealedSize
	m.SealedSHA256 = hex.EncodeToString(h.Sum(nil))
	return nil
}

// backupBlobs copies the blobs of refs that the primary location lacks.
func (s *Service) backupBlobs(ctx context.Context, notebook string, refs []fileRef) ([]blobs.Entry, error) {
	macKey, err := s.st.Ring().Derive(ctx, notebook, BlobKeyPurpose)
	if err != nil {
		return nil, err
	}
	defer clear(macKey)
	br := make([]blobs.Ref, len(refs))
	for i, f := range refs {
		br[i] = blobs.Ref{FileID: f.id, SHA256: f.sha256, BlobKey: f.blobKey, Size: sealed.SealedSize(f.size)}
	}
	return blobs.Backup(ctx, macKey, s.cfg.Files, s.cfg.Primary.Store, notebook, br)
}

// replicate copies a snapshot's objects and its notebook's blobs from the
// primary location to l.
func (s *Service) replicate(ctx context.Context, l location.Location, notebook, id string) error {
	if notebook != "" {
		if _, err := location.Replicate(ctx, s.cfg.Primary, l, blobs.Prefix(notebook)); err != nil {
			return err
		}
	}
	_, err := location.Replicate(ctx, s.cfg.Primary, l, snapshotPrefix(notebook, id))
	return err
}

func (s *Service) progress(p Progress) {
	if s.cfg.Progress != nil {
		s.cfg.Progress(p)
	}
}

// countWriter counts what goes through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// progressReader reports, about every 8 MiB, how much was read.
type progressReader struct {
	r           io.Reader
	done, total int64
	last        int64
	report      func(done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.done-p.last >= 8<<20 || errors.Is(err, io.EOF) {
		p.last = p.done
		p.report(p.done, p.total)
	}
	return n, err
}
