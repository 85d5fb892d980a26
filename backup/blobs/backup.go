package blobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/blob"
)

const (
	packMagic   = "CFBP"
	packVersion = 1
	packFixed   = 4 + 1 + 4 // magic, version, header length
	// maxHeader bounds the JSON header of a pack read back.
	maxHeader = 4 << 20
	packPart  = "pack-"
)

// packItem is one blob in a pack header; Off counts from the end of the
// header.
type packItem struct {
	CID string `json:"cid"`
	Off int64  `json:"off"`
	Len int64  `json:"len"`
}

type packHeader struct {
	Blobs []packItem `json:"blobs"`
}

// isContentID reports whether s is shaped like a content id.
func isContentID(s string) bool {
	if len(s) != 2*32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Present returns what dst already holds of notebook's blobs, by content
// id: it lists Prefix(notebook) and reads every pack's header. A pack
// whose header is malformed is left out (its blobs count as missing, and
// are copied again into a new pack); an error reading one is returned.
func Present(ctx context.Context, dst blob.Store, notebook string) (map[string]Entry, error) {
	prefix := Prefix(notebook)
	have := map[string]Entry{}
	var packs []blob.Info
	err := dst.List(ctx, prefix, func(in blob.Info) error {
		name := strings.TrimPrefix(in.Key, prefix)
		switch {
		case isContentID(name):
			have[name] = Entry{ContentID: name, Object: in.Key, Offset: 0, Length: in.Size}
		case strings.HasPrefix(name, packPart) && !strings.Contains(name, "/"):
			packs = append(packs, in)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blobs: list %s: %w", prefix, err)
	}
	found := make([][]Entry, len(packs))
	err = location.Parallel(ctx, len(packs), func(ctx context.Context, i int) error {
		entries, err := readPackHeader(ctx, dst, packs[i])
		switch {
		case errors.Is(err, errPack), errors.Is(err, blob.ErrNotFound):
			return nil // not trusted, or swept meanwhile: its blobs count as missing
		case err != nil:
			return fmt.Errorf("blobs: read %s: %w", packs[i].Key, err)
		}
		found[i] = entries
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, entries := range found {
		for _, e := range entries {
			if _, ok := have[e.ContentID]; !ok {
				have[e.ContentID] = e
			}
		}
	}
	return have, nil
}

var errPack = errors.New("blobs: malformed pack header")

// headRead is how much of a pack readPackHeader reads at first: the
// header of a full pack of small blobs usually fits.
const headRead = 32 << 10

// readPackHeader reads the entries of the pack p: in one read when the
// header is under headRead bytes.
func readPackHeader(ctx context.Context, s blob.Store, p blob.Info) ([]Entry, error) {
	rc, err := s.Open(ctx, p.Key, 0, min(p.Size, headRead))
	if err != nil {
		return nil, err
	}
	head, err := io.ReadAll(io.LimitReader(rc, headRead))
	rc.Close()
	if err != nil {
		return nil, err
	}
	if len(head) < packFixed || string(head[:4]) != packMagic || head[4] != packVersion {
		return nil, errPack
	}
	hlen := int64(binary.BigEndian.Uint32(head[5:packFixed]))
	if hlen > maxHeader || packFixed+hlen > p.Size {
		return nil, errPack
	}
	raw := head[packFixed:]
	if int64(len(raw)) >= hlen {
		raw = raw[:hlen]
	} else {
		rc, err := s.Open(ctx, p.Key, int64(len(head)), packFixed+hlen-int64(len(head)))
		if err != nil {
			return nil, err
		}
		rest, err := io.ReadAll(io.LimitReader(rc, hlen))
		rc.Close()
		if err != nil {
			return nil, err
		}
		raw = append(raw, rest...)
		if int64(len(raw)) != hlen {
			return nil, errPack
		}
	}
	var h packHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, errPack
	}
	base := packFixed + hlen
	out := make([]Entry, 0, len(h.Blobs))
	for _, b := range h.Blobs {
		if !isContentID(b.CID) || b.Off < 0 || b.Len < 0 || b.Off > p.Size-base || b.Len > p.Size-base-b.Off {
			return nil, errPack
		}
		out = append(out, Entry{ContentID: b.CID, Object: p.Key, Offset: base + b.Off, Length: b.Len})
	}
	return out, nil
}

// packer gathers small blobs and writes them out as packs.
type packer struct {
	dst     blob.Store
	prefix  string
	items   []packItem
	data    bytes.Buffer
	written map[string]Entry // content id → entry, added to by flush
}

func (p *packer) add(cid string, b []byte) {
	p.items = append(p.items, packItem{CID: cid, Off: int64(p.data.Len()), Len: int64(len(b))})
	p.data.Write(b)
}

func (p *packer) flush(ctx context.Context) error {
	if len(p.items) == 0 {
		return nil
	}
	hdr, err := json.Marshal(packHeader{Blobs: p.items})
	if err != nil {
		return err
	}
	var rnd [16]byte
	rand.Read(rnd[:])
	key := p.prefix + packPart + hex.EncodeToString(rnd[:])
	var fixed [packFixed]byte
	copy(fixed[:], packMagic)
	fixed[4] = packVersion
	binary.BigEndian.PutUint32(fixed[5:], uint32(len(hdr)))
	size := int64(packFixed + len(hdr) + p.data.Len())
	n, err := p.dst.Put(ctx, key, io.MultiReader(bytes.NewReader(fixed[:]), bytes.NewReader(hdr), bytes.NewReader(p.data.Bytes())))
	if err != nil {
		return fmt.Errorf("blobs: write pack: %w", err)
	}
	if n != size {
		return fmt.Errorf("blobs: write pack: %d bytes stored, want %d", n, size)
	}
	base := int64(packFixed + len(hdr))
	for _, it := range p.items {
		p.written[it.CID] = Entry{ContentID: it.CID, Object: key, Offset: base + it.Off, Length: it.Len}
	}
	p.items = p.items[:0]
	p.data.Reset()
	return nil
}

// job is a blob to copy.
type job struct {
	ref  Ref
	cid  string
	size int64
}

// smallBatch is how many small blobs are read at once (in parallel)
// before they go into the pack being filled.
const smallBatch = 64

// backup is Backup after its checks.
func backup(ctx context.Context, macKey []byte, files, to blob.Store, notebook string, refs []Ref) ([]Entry, error) {
	have, err := Present(ctx, to, notebook)
	if err != nil {
		return nil, err
	}
	prefix := Prefix(notebook)
	cids := make([]string, len(refs))
	queued := map[string]bool{}
	var jobs []job
	for i, r := range refs {
		cid := ContentID(macKey, r.FileID, r.SHA256)
		cids[i] = cid
		if queued[cid] {
			continue
		}
		if e, ok := have[cid]; ok && (r.Size <= 0 || e.Length == r.Size) {
			continue
		}
		queued[cid] = true
		jobs = append(jobs, job{ref: r, cid: cid, size: r.Size})
	}
	// Sizes not given are asked of the files store.
	err = location.Parallel(ctx, len(jobs), func(ctx context.Context, i int) error {
		if jobs[i].size > 0 {
			return nil
		}
		in, err := files.Stat(ctx, jobs[i].ref.BlobKey)
		jobs[i].size = in.Size
		return err
	})
	if err != nil {
		return nil, err
	}
	var big, small []job
	for _, j := range jobs {
		if e, ok := have[j.cid]; ok && e.Length == j.size {
			continue
		}
		if j.size >= SmallSize {
			big = append(big, j)
		} else {
			small = append(small, j)
		}
	}

	copied := make([]Entry, len(big))
	err = location.Parallel(ctx, len(big), func(ctx context.Context, i int) error {
		var err error
		copied[i], err = copyBig(ctx, files, to, big[i].ref.BlobKey, prefix+big[i].cid, big[i].cid, big[i].size)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, e := range copied {
		have[e.ContentID] = e
	}

	pk := &packer{dst: to, prefix: prefix, written: have}
	for start := 0; start < len(small); start += smallBatch {
		batch := small[start:min(start+smallBatch, len(small))]
		bufs := make([][]byte, len(batch))
		err := location.Parallel(ctx, len(batch), func(ctx context.Context, i int) error {
			var err error
			bufs[i], err = readSmall(ctx, files, batch[i].ref.BlobKey, batch[i].size)
			return err
		})
		if err != nil {
			return nil, err
		}
		for i, b := range bufs {
			pk.add(batch[i].cid, b)
			if pk.data.Len() >= PackSize {
				if err := pk.flush(ctx); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := pk.flush(ctx); err != nil {
		return nil, err
	}
	out := make([]Entry, len(refs))
	for i, cid := range cids {
		out[i] = have[cid]
	}
	return out, nil
}

func sizeErr(key string, got, want int64) error {
	return &coffer.Error{Code: coffer.EINTEGRITY, Message: "a file blob does not have its recorded size",
		Op: "blobs.Backup " + key, Err: fmt.Errorf("%d bytes, want %d", got, want)}
}

// copyBig copies the blob under key in files, of size bytes, to the object
// obj in to.
func copyBig(ctx context.Context, files, to blob.Store, key, obj, cid string, size int64) (Entry, error) {
	rc, err := files.Open(ctx, key, 0, -1)
	if err != nil {
		return Entry{}, err
	}
	defer rc.Close()
	er := &exactReader{r: rc, left: size}
	n, err := to.Put(ctx, obj, er)
	if err != nil {
		if er.err != nil {
			return Entry{}, sizeErr(key, size-er.left, size)
		}
		return Entry{}, fmt.Errorf("blobs: copy %s: %w", key, err)
	}
	if n != size {
		return Entry{}, sizeErr(key, n, size)
	}
	return Entry{ContentID: cid, Object: obj, Offset: 0, Length: size}, nil
}

// readSmall reads the whole blob under key, which must hold size bytes.
func readSmall(ctx context.Context, files blob.Store, key string, size int64) ([]byte, error) {
	rc, err := files.Open(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, size+1))
	if err != nil {
		return nil, fmt.Errorf("blobs: read %s: %w", key, err)
	}
	if int64(len(b)) != size {
		return nil, sizeErr(key, int64(len(b)), size)
	}
	return b, nil
}

// exactReader reads r, failing unless it yields exactly left bytes.
type exactReader struct {
	r    io.Reader
	left int64
	err  error
}

var errSize = errors.New("blobs: size differs")

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if e.left < 0 || (err == io.EOF && e.left != 0) {
		e.err = errSize
		return n, errSize
	}
	return n, err
}
