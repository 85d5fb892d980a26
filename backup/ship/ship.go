// Package ship ships the WAL of SQLite notebook databases to backup
// locations continuously, encrypted, and restores a notebook as it was
// at any time since the start of its shipping (point-in-time restore).
//
// Shipping runs in generations. A generation begins with a physical copy
// of the notebook's database file (the base), taken while its
// checkpoints are held, so that nothing changes the file; writers go on
// into the WAL. From then on every committed WAL frame is read before a
// checkpoint may copy it into the database file (store/sqlite's WAL hook,
// walhook.go there) and kept in memory; each round (every Interval, 30 s
// by default) ships the frames of the notebooks that committed since the
// last round as one segment. Idle notebooks cost nothing: a notebook is
// looked at only after a commit. A restore copies the base and writes the
// page images of the segments shipped up to the chosen time over it, as
// a checkpoint would, then checks the result with integrity_check.
//
// Every object is sealed (blob/sealed) under a random key per generation,
// itself sealed by the keyring under the notebook's scope: shredding the
// notebook's keys makes its shipped WAL unreadable. See object.go for the
// layout. A new generation begins daily (GenerationAge) or once a
// generation's segments pass GenerationBytes, which bounds the replay;
// Prune removes the generations no restore needs any more.
//
// The shipped state lives in the locations themselves and in memory: a
// restarted process begins a new generation at a notebook's first commit.
package ship

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/sealed"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/sqlite"
)

// Defaults of Config.
const (
	DefaultInterval        = 30 * time.Second
	DefaultGenerationAge   = 24 * time.Hour
	DefaultGenerationBytes = 256 << 20
	DefaultMaxPending      = 64 << 20
)

// Config configures a Shipper.
type Config struct {
	// Backend is the SQLite backend whose notebooks are shipped. New sets
	// its WAL hook: call New before notebooks are opened.
	Backend *sqlite.Backend
	// Ring seals each generation's key under the notebook's scope.
	Ring *keyring.Ring
	// Stores are the locations shipped to (the primary, then a second):
	// every object goes to each.
	Stores []blob.Store
	// Interval is the time between rounds (default 30 s): about the
	// most work lost with the machine.
	Interval time.Duration
	// GenerationAge and GenerationBytes bound a generation (default
	// a day, 256 MiB of segments): past either, the next round begins a
	// new one.
	GenerationAge   time.Duration
	GenerationBytes int64
	// TempDir holds the copy of a database file while its base is
	// shipped (default the system's).
	TempDir string
	// MaxPending bounds the frames held in memory per notebook between
	// rounds (default 64 MiB): past it they are dropped and the next
	// round begins a new generation.
	MaxPending int
	Logger     *slog.Logger
}

// Shipper ships notebooks' WAL. It implements sqlite.WALHook.
type Shipper struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	dirty map[string]bool     // notebooks committed to since their last round
	nbs   map[string]*nbState // notebooks seen since the start

	round sync.Mutex // one round at a time

	stop    chan struct{}
	done    chan struct{}
	started bool
	closed  bool

	last Status // of the last round, under mu
}

// Status is what the last round did, for `coffer backup status`.
type Status struct {
	At       time.Time     // when the last round began (zero: none yet)
	Took     time.Duration // how long it ran
	Shipped  int           // notebooks it shipped a segment or a base of
	Failed   int           // notebooks it failed (tried again next round)
	Error    string        // the first failure
	Shipping int           // notebooks with a generation
	Pending  int64         // bytes of frames read and not yet shipped, all notebooks
}

// nbState is what a Shipper holds of one notebook.
type nbState struct {
	mu       sync.Mutex
	pos      walPos
	pending  bytes.Buffer // frames read since the last segment: page number, commit, page
	frames   int          // in pending
	pageSize int
	dbFile   os.FileInfo // the database file the generation's base was copied from
	broken   bool        // frames may be missing: the next round begins a new generation
	starting bool        // between a base's copy and its first segment (the whole WAL, however large)
	gen      *generation // nil: none yet
}

// generation is the generation being shipped of a notebook. Its fields
// change only in rounds.
type generation struct {
	id    string
	key   []byte
	seq   int // last segment shipped
	bytes int64
	began time.Time
}

var _ sqlite.WALHook = (*Shipper)(nil)

// New returns a Shipper and sets it as cfg.Backend's WAL hook. Start
// runs its rounds; Ship runs one.
func New(cfg Config) (*Shipper, error) {
	if cfg.Backend == nil || cfg.Ring == nil || len(cfg.Stores) == 0 {
		return nil, coffer.Internal("ship.New", errors.New("a backend, a keyring and at least one store are needed"))
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.GenerationAge <= 0 {
		cfg.GenerationAge = DefaultGenerationAge
	}
	if cfg.GenerationBytes <= 0 {
		cfg.GenerationBytes = DefaultGenerationBytes
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Shipper{cfg: cfg, log: cfg.Logger, dirty: map[string]bool{}, nbs: map[string]*nbState{}}
	cfg.Backend.SetWALHook(s)
	return s, nil
}

// Committed marks notebook as changed (sqlite.WALHook).
func (s *Shipper) Committed(notebook string) {
	s.mu.Lock()
	s.dirty[notebook] = true
	s.mu.Unlock()
}

// Reset forgets what was read of notebook's WAL (sqlite.WALHook): its
// database file is made anew or removed, so the next round begins a new
// generation (or forgets the notebook when it is gone).
func (s *Shipper) Reset(notebook string) {
	nb := s.state(notebook)
	nb.mu.Lock()
	defer nb.mu.Unlock()
	nb.pos, nb.frames, nb.pageSize, nb.broken = walPos{}, 0, 0, true
	nb.pending.Reset()
}

// state returns the state of notebook, made on first use.
func (s *Shipper) state(notebook string) *nbState {
	s.mu.Lock()
	defer s.mu.Unlock()
	nb := s.nbs[notebook]
	if nb == nil {
		nb = &nbState{}
		s.nbs[notebook] = nb
	}
	return nb
}

// Capture reads the WAL's new committed frames (sqlite.WALHook): kept
// for the next segment when the notebook has a generation, else only
// counted.
func (s *Shipper) Capture(notebook, dbPath string) (int, uint64, error) {
	nb := s.state(notebook)
	nb.mu.Lock()
	defer nb.mu.Unlock()
	if nb.gen != nil && !nb.broken {
		if fi, err := os.Stat(dbPath); err != nil || !os.SameFile(fi, nb.dbFile) {
			nb.broken = true // another file (the notebook replaced): its frames do not apply to the base
		}
	}
	keep := nb.gen != nil && !nb.broken
	before := nb.frames
	pos, err := readWAL(dbPath+"-wal", nb.pos, func(pgno, commit uint32, page []byte) error {
		if !keep {
			return nil
		}
		if nb.pageSize == 0 {
			nb.pageSize = len(page)
		} else if nb.pageSize != len(page) {
			return fmt.Errorf("ship: page size changed from %d to %d", nb.pageSize, len(page))
		}
		var h [8]byte
		binary.BigEndian.PutUint32(h[:], pgno)
		binary.BigEndian.PutUint32(h[4:], commit)
		nb.pending.Write(h[:])
		nb.pending.Write(page)
		nb.frames++
		return nil
	})
	if err != nil {
		nb.broken = true
		s.log.Warn("ship: reading the WAL failed; the notebook's next round begins a new generation", "notebook", notebook, "err", err)
		return 0, 0, err
	}
	nb.pos = pos
	if nb.pending.Len() > s.cfg.MaxPending && !nb.starting {
		// A burst too large to hold until the round: a new base costs
		// less than the memory.
		nb.pending, nb.frames, nb.broken = bytes.Buffer{}, 0, true
		s.log.Info("ship: more than MaxPending written between rounds; the next round begins a new generation", "notebook", notebook)
	}
	if nb.frames > before || nb.broken {
		s.Committed(notebook)
	}
	return pos.frames, pos.salt, nil
}

// Start runs a round every Interval until Close.
func (s *Shipper) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-s.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			if err := s.Ship(ctx); err != nil {
				s.log.Warn("ship: round failed", "err", err)
			}
			cancel()
		}
	}()
}

// Close stops the rounds, then runs a last one (bounded by a minute) so
// that a clean shutdown ships every commit. Close it before the backend.
func (s *Shipper) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()
	if started {
		close(s.stop)
		<-s.done
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return s.Ship(ctx)
}

// Ship runs one round: for every notebook committed to since its last
// round, it ships the frames read since as a segment, and begins a
// generation when the notebook has none (or a broken one, or one past its
// age or size). A notebook that fails is tried again next round.
func (s *Shipper) Ship(ctx context.Context) error {
	s.round.Lock()
	defer s.round.Unlock()
	s.mu.Lock()
	ids := make([]string, 0, len(s.dirty))
	for id := range s.dirty {
		ids = append(ids, id)
	}
	clear(s.dirty)
	s.mu.Unlock()
	slices.Sort(ids)
	st := Status{At: time.Now()}
	var errs []error
	for _, id := range ids {
		err := s.shipNotebook(ctx, id)
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			s.mu.Lock()
			delete(s.nbs, id) // dropped
			s.mu.Unlock()
			continue
		}
		if err != nil {
			s.Committed(id)
			errs = append(errs, fmt.Errorf("notebook %s: %w", id, err))
			if st.Failed++; st.Error == "" {
				st.Error = errs[0].Error()
			}
			continue
		}
		st.Shipped++
	}
	st.Took = time.Since(st.At)
	s.mu.Lock()
	s.last = st
	s.mu.Unlock()
	return errors.Join(errs...)
}

// Status returns what the last round did, and how many notebooks are
// shipped and how much waits for the next round now.
func (s *Shipper) Status() Status {
	s.mu.Lock()
	st := s.last
	nbs := make([]*nbState, 0, len(s.nbs))
	for _, nb := range s.nbs {
		nbs = append(nbs, nb)
	}
	s.mu.Unlock()
	for _, nb := range nbs {
		nb.mu.Lock()
		if nb.gen != nil && !nb.broken {
			st.Shipping++
		}
		st.Pending += int64(nb.pending.Len())
		nb.mu.Unlock()
	}
	return st
}

// shipNotebook ships one notebook's new frames.
func (s *Shipper) shipNotebook(ctx context.Context, id string) error {
	// Every commit before now is read, so the segment's time is after
	// every transaction in it.
	_ = s.cfg.Backend.CaptureWAL(ctx, id) // a failure marks the notebook broken
	nb := s.state(id)
	nb.mu.Lock()
	g, broken, ps := nb.gen, nb.broken, nb.pageSize
	var data []byte
	if g != nil && !broken && nb.frames > 0 {
		data = bytes.Clone(nb.pending.Bytes())
		nb.pending.Reset()
		nb.frames = 0
	}
	at := time.Now()
	nb.mu.Unlock()
	if data != nil {
		if err := s.putSegment(ctx, id, g, g.seq+1, at, ps, data); err != nil {
			nb.mu.Lock()
			if nb.gen == g { // put the frames back in front, for the next round
				rest := bytes.Clone(nb.pending.Bytes())
				nb.pending.Reset()
				nb.pending.Write(data)
				nb.pending.Write(rest)
				nb.frames += len(data) / (8 + ps)
			}
			nb.mu.Unlock()
			return err
		}
		g.seq++
		g.bytes += int64(len(data))
	}
	if g == nil || broken || time.Since(g.began) > s.cfg.GenerationAge || g.bytes > s.cfg.GenerationBytes {
		return s.newGeneration(ctx, id, nb)
	}
	return nil
}

// putSegment ships segment seq of generation g to every store.
func (s *Shipper) putSegment(ctx context.Context, id string, g *generation, seq int, at time.Time, pageSize int, data []byte) error {
	key := segmentObject(id, g.id, seq, at)
	for _, st := range s.cfg.Stores {
		if _, err := sealTo(ctx, st, key, g.key, func(w io.Writer) error {
			if _, err := w.Write(segmentHeader(pageSize)); err != nil {
				return err
			}
			_, err := w.Write(data)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// newGeneration begins a generation of notebook id: key, base, and a
// first segment holding the whole WAL as it is once the base is copied.
func (s *Shipper) newGeneration(ctx context.Context, id string, nb *nbState) (err error) {
	began := time.Now()
	g := &generation{id: newGenerationID(began), key: make([]byte, sealed.KeySize), began: began}
	if _, err := rand.Read(g.key); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			nb.mu.Lock()
			if nb.gen == g {
				nb.broken, nb.starting = true, false
			}
			nb.mu.Unlock()
		}
	}()
	tmp, err := os.CreateTemp(s.cfg.TempDir, "coffer-ship-base-*")
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	err = s.cfg.Backend.HoldCheckpoints(ctx, id, func(dbPath string) error {
		fi, err := os.Stat(dbPath)
		if err != nil {
			return err
		}
		// From here every frame of the WAL is read again from the first:
		// frames already in the file apply again as they are, the others
		// bring the base up to date.
		nb.mu.Lock()
		nb.pos, nb.frames, nb.pageSize, nb.broken, nb.dbFile, nb.gen = walPos{}, 0, 0, false, fi, g
		nb.starting = true
		nb.pending.Reset()
		nb.mu.Unlock()
		f, err := os.Open(dbPath)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tmp, f)
		return err
	})
	if err != nil {
		return err
	}
	// Sealed once the notebook is known to exist: Seal would make a
	// dropped notebook's scope a key again.
	wrapped, err := s.cfg.Ring.Seal(ctx, id, keyAAD(id, g.id), g.key)
	if err != nil {
		return err
	}
	var hdr [18]byte
	if _, err := tmp.ReadAt(hdr[:], 0); err != nil {
		return fmt.Errorf("ship: database header: %w", err)
	}
	filePageSize := int(binary.BigEndian.Uint16(hdr[16:]))
	if filePageSize == 1 {
		filePageSize = 65536
	}
	for _, st := range s.cfg.Stores {
		if _, err := st.Put(ctx, keyObject(id, g.id), bytes.NewReader(wrapped)); err != nil {
			return err
		}
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if _, err := sealTo(ctx, st, baseObject(id, g.id), g.key, func(w io.Writer) error {
			_, err := io.Copy(w, tmp)
			return err
		}); err != nil {
			return err
		}
	}
	if err := s.cfg.Backend.CaptureWAL(ctx, id); err != nil {
		return err
	}
	nb.mu.Lock()
	nb.starting = false
	data := bytes.Clone(nb.pending.Bytes())
	nb.pending.Reset()
	nb.frames = 0
	if nb.pageSize != 0 && nb.pageSize != filePageSize {
		nb.mu.Unlock()
		return fmt.Errorf("ship: WAL page size %d, database %d", nb.pageSize, filePageSize)
	}
	broken := nb.broken
	at := time.Now()
	nb.mu.Unlock()
	if broken {
		return errors.New("ship: the WAL could not be read after the base was copied")
	}
	if err := s.putSegment(ctx, id, g, 1, at, filePageSize, data); err != nil {
		return err
	}
	g.seq, g.bytes = 1, int64(len(data))
	s.log.Info("ship: generation began", "notebook", id, "generation", g.id)
	return nil
}
