package ship

// Objects of shipped WAL in a location, keys relative to it:
//
//	wal/<notebook>/<generation>/key                  the generation key, sealed by the keyring under the notebook's scope
//	wal/<notebook>/<generation>/base                 the database file as the generation began, sealed
//	wal/<notebook>/<generation>/s<seq>-<micros>      segment seq (1, 2, …): committed frames, sealed
//
// A generation id is "g" and the Unix time in microseconds at which it
// began (16 digits), "-" and 8 random hexadecimal digits; a segment's
// micros is the time by which every transaction in it had committed
// (all frames of transactions committed before then are in it or in an
// earlier segment). Every object but the key is sealed (blob/sealed)
// under the generation key with its own object key as file id, so an
// object renamed, swapped or changed fails to open.
//
// A segment's plaintext is "CWS1", the page size (4 bytes), then frames:
// page number (4), database size in pages after commit, or 0 (4), page.
// All integers big-endian. A segment ends with a commit frame.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/sealed"
)

const segMagic = "CWS1"

// Prefix is where the shipped WAL of notebook lies in a location.
func Prefix(notebook string) string { return "wal/" + notebook + "/" }

// newGenerationID returns a generation id for one beginning at t.
func newGenerationID(t time.Time) string {
	var r [4]byte
	rand.Read(r[:])
	return fmt.Sprintf("g%016d-%s", t.UnixMicro(), hex.EncodeToString(r[:]))
}

func keyObject(notebook, gen string) string  { return Prefix(notebook) + gen + "/key" }
func baseObject(notebook, gen string) string { return Prefix(notebook) + gen + "/base" }
func segmentObject(notebook, gen string, seq int, at time.Time) string {
	return fmt.Sprintf("%s%s/s%08d-%016d", Prefix(notebook), gen, seq, at.UnixMicro())
}

// keyAAD binds a sealed generation key to its notebook and generation.
func keyAAD(notebook, gen string) string { return "wal:" + notebook + "/" + gen }

// Generation describes one generation of a notebook's shipped WAL.
type Generation struct {
	ID       string
	Began    time.Time // its first segment's time: it restores any time from then on
	Last     time.Time // its last segment's time
	Segments []Segment // in order
	Objects  []string  // every object of the generation, for pruning
	HasKey   bool
	HasBase  bool
}

// Segment is one shipped segment.
type Segment struct {
	Seq    int
	At     time.Time
	Object string
	Size   int64
}

// Generations lists the generations of notebook's shipped WAL in st,
// oldest first. A generation without key, base or first segment (its
// start failed) has a zero Began.
func Generations(ctx context.Context, st blob.Store, notebook string) ([]*Generation, error) {
	if !coffer.ValidID(coffer.PrefixNotebook, notebook) {
		return nil, coffer.Errorf(coffer.EINVALID, "not a notebook id")
	}
	byID := map[string]*Generation{}
	prefix := Prefix(notebook)
	err := st.List(ctx, prefix, func(in blob.Info) error {
		rest := strings.TrimPrefix(in.Key, prefix)
		gen, name, ok := strings.Cut(rest, "/")
		if !ok || !strings.HasPrefix(gen, "g") {
			return nil
		}
		g := byID[gen]
		if g == nil {
			g = &Generation{ID: gen}
			byID[gen] = g
		}
		g.Objects = append(g.Objects, in.Key)
		switch {
		case name == "key":
			g.HasKey = true
		case name == "base":
			g.HasBase = true
		case strings.HasPrefix(name, "s"):
			seqS, atS, ok := strings.Cut(name[1:], "-")
			seq, err1 := strconv.Atoi(seqS)
			at, err2 := strconv.ParseInt(atS, 10, 64)
			if ok && err1 == nil && err2 == nil {
				g.Segments = append(g.Segments, Segment{Seq: seq, At: time.UnixMicro(at), Object: in.Key, Size: in.Size})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Generation, 0, len(byID))
	for _, g := range byID {
		sortSegments(g.Segments)
		if g.HasKey && g.HasBase && len(g.Segments) > 0 && g.Segments[0].Seq == 1 {
			g.Began = g.Segments[0].At
			g.Last = g.Segments[len(g.Segments)-1].At
		}
		out = append(out, g)
	}
	sortGenerations(out)
	return out, nil
}

// sealTo stores under key, in st, what write writes, sealed under
// genKey.
func sealTo(ctx context.Context, st blob.Store, key string, genKey []byte, write func(w io.Writer) error) (int64, error) {
	return blob.PutWith(ctx, st, key, func(w io.Writer) error {
		sw, err := sealed.NewWriter(w, genKey, key)
		if err != nil {
			return err
		}
		if err := write(sw); err != nil {
			return err
		}
		return sw.Close()
	})
}

// openSealed opens the object key of st, sealed under genKey.
func openSealed(ctx context.Context, st blob.Store, key string, genKey []byte) (io.ReadCloser, error) {
	info, err := st.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	sr, err := sealed.NewReader(func(off, n int64) (io.ReadCloser, error) {
		return st.Open(ctx, key, off, n)
	}, info.Size, genKey, key)
	if err != nil {
		return nil, err
	}
	return sr.ReadRange(0, -1)
}

// segmentHeader is the start of a segment's plaintext.
func segmentHeader(pageSize int) []byte {
	b := make([]byte, 8)
	copy(b, segMagic)
	binary.BigEndian.PutUint32(b[4:], uint32(pageSize))
	return b
}

// readSegment reads a segment's plaintext and calls fn with each frame.
func readSegment(r io.Reader, fn func(pageSize int, pgno, commit uint32, page []byte) error) error {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return badSegment("header: %v", err)
	}
	if !bytes.Equal(hdr[:4], []byte(segMagic)) {
		return badSegment("not a segment")
	}
	ps := int(binary.BigEndian.Uint32(hdr[4:]))
	if ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return badSegment("page size %d", ps)
	}
	frame := make([]byte, 8+ps)
	last := uint32(1)
	for {
		if _, err := io.ReadFull(r, frame); err != nil {
			if err == io.EOF {
				if last == 0 {
					return badSegment("ends inside a transaction")
				}
				return nil
			}
			return badSegment("frame: %v", err)
		}
		last = binary.BigEndian.Uint32(frame[4:])
		if err := fn(ps, binary.BigEndian.Uint32(frame), last, frame[8:]); err != nil {
			return err
		}
	}
}

func badSegment(format string, args ...any) error {
	return coffer.Errorf(coffer.EINTEGRITY, "shipped WAL segment: "+format, args...)
}

func sortSegments(s []Segment) {
	slices.SortFunc(s, func(a, b Segment) int {
		if c := cmp.Compare(a.Seq, b.Seq); c != 0 {
			return c
		}
		return a.At.Compare(b.At)
	})
}

func sortGenerations(g []*Generation) {
	slices.SortFunc(g, func(a, b *Generation) int { return strings.Compare(a.ID, b.ID) })
}

func sortStrings(s []string) { slices.Sort(s) }
