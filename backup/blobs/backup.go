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
// whose header does not read back is left out (its blobs count as
// missing, and are copied again into a new pack).
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
	for _, p := range packs {
		entries, err := readPackHeader(ctx, dst, p)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		for _, e := range entries {
			if _, ok := have[e.ContentID]; !ok {
				have[e.ContentID] = e
			}
		}
	}
	return have, nil
}

var errPack = errors.New("blobs: malformed pack header")

// readPackHeader reads the entries of the pack p.
func readPackHeader(ctx context.Context, s blob.Store, p blob.Info) ([]Entry, error) {
	rc, err := s.Open(ctx, p.Key, 0, packFixed)
	if err != nil {
		return nil, err
	}
	var fixed [packFixed]byte
	_, err = io.ReadFull(rc, fixed[:])
	rc.Close()
	if err != nil {
		return nil, errPack
	}
	if string(fixed[:4]) != packMagic || fixed[4] != packVersion {
		return nil, errPack
	}
	hlen := int64(binary.BigEndian.Uint32(fixed[5:]))
	if hlen > maxHeader || packFixed+hlen > p.Size {
		return nil, errPack
	}
	rc, err = s.Open(ctx, p.Key, packFixed, hlen)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(rc, hlen))
	rc.Close()
	if err != nil || int64(len(raw)) != hlen {
		return nil, errPack
	}
	var h packHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, errPack
	}
	base := packFixed + hlen
	out := make([]Entry, 0, len(h.Blobs))
	for _, b := range h.Blobs {
		if !isContentID(b.CID) || b.Off < 0 || b.Len < 0 || base+b.Off+b.Len > p.Size {
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
	written map[string]Entry // content id → entry, filled by flush
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

// backup is Backup after its checks.
func backup(ctx context.Context, macKey []byte, files, to blob.Store, notebook string, refs []Ref) ([]Entry, error) {
	have, err := Present(ctx, to, notebook)
	if err != nil {
		return nil, err
	}
	prefix := Prefix(notebook)
	pk := &packer{dst: to, prefix: prefix, written: map[string]Entry{}}
	cids := make([]string, len(refs))
	pending := map[string]bool{} // content ids in the pack being filled
	for i, r := range refs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cid := ContentID(macKey, r.FileID, r.SHA256)
		cids[i] = cid
		if pending[cid] {
			continue
		}
		size := r.Size
		if e, ok := have[cid]; ok && (size <= 0 || e.Length == size) {
			continue
		}
		if size <= 0 {
			in, err := files.Stat(ctx, r.BlobKey)
			if err != nil {
				return nil, err
			}
			size = in.Size
			if e, ok := have[cid]; ok && e.Length == size {
				continue
			}
		}
		if size >= SmallSize {
			e, err := copyBig(ctx, files, to, r.BlobKey, prefix+cid, cid, size)
			if err != nil {
				return nil, err
			}
			have[cid] = e
			continue
		}
		b, err := readSmall(ctx, files, r.BlobKey, size)
		if err != nil {
			return nil, err
		}
		pk.add(cid, b)
		pending[cid] = true
		if pk.data.Len() >= PackSize {
			if err := pk.flush(ctx); err != nil {
				return nil, err
			}
			clear(pending)
		}
	}
	if err := pk.flush(ctx); err != nil {
		return nil, err
	}
	out := make([]Entry, len(refs))
	for i, cid := range cids {
		if e, ok := pk.written[cid]; ok {
			out[i] = e
		} else {
			out[i] = have[cid]
		}
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
