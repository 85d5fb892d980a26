package main

// The loaders of the backup workloads (bench_backup.go): a notebook filled
// to a given size through the store's batches, the writer that runs
// beside a snapshot, and a file store of sealed-sized blobs with a store
// wrapper that counts what a backup writes.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/local"
	"github.com/cofferhq/coffer/notebooks"
	"github.com/cofferhq/coffer/store/postgres"
)

// backupColumns is the table of the backup notebook: the columns of a
// ledger, one long note per record so that rows weigh about a kilobyte.
var backupColumns = []coffer.ColumnInput{
	{Name: "Title", Type: coffer.TypeText},
	{Name: "Notes", Type: coffer.TypeLongText},
	{Name: "Amount", Type: coffer.TypeNumber, Options: coffer.ColumnOptions{Precision: 2}},
	{Name: "Quantity", Type: coffer.TypeNumber},
	{Name: "Due", Type: coffer.TypeDate},
	{Name: "Updated", Type: coffer.TypeDateTime},
	{Name: "Status", Type: coffer.TypeSingleSelect, Options: coffer.ColumnOptions{Choices: backupStatuses}},
	{Name: "Done", Type: coffer.TypeBoolean},
	{Name: "Contact", Type: coffer.TypeEmail},
}

var backupStatuses = []string{"open", "pending", "paid", "late", "cancelled"}

// backupFields is one realistic ledger record, the n-th.
func backupFields(rng *rand.Rand, n int) map[string]any {
	day := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(6*365*24)) * time.Hour)
	return map[string]any{
		"Title":    "Invoice " + strconv.Itoa(n) + " " + benchText(rng, 24),
		"Notes":    benchText(rng, 1000+rng.IntN(2000)),
		"Amount":   float64(rng.IntN(10_000_000)) / 100,
		"Quantity": rng.IntN(1000),
		"Due":      day.Format("2006-01-02"),
		"Updated":  day.Add(time.Duration(rng.IntN(86400)) * time.Second).Format(time.RFC3339),
		"Status":   backupStatuses[rng.IntN(len(backupStatuses))],
		"Done":     rng.IntN(2) == 0,
		"Contact":  "client" + strconv.Itoa(rng.IntN(100_000)) + "@example.com",
	}
}

// backupNotebook is the notebook the backup workloads snapshot and restore.
type backupNotebook struct {
	id    string
	table *coffer.Table
	rows  int      // records loaded
	ids   []string // a sample of their ids
}

// fillBackupNotebook creates a notebook of its own with one ledger table
// and fills it through the store's batches of loadBatch records, two in
// flight, until its database holds size bytes (measured after each batch). Nothing is recorded in
// history while it loads (notebooks.NoHistory): the load is the notebook's
// past, not a workload.
func fillBackupNotebook(ctx context.Context, env *benchEnv, size int64) (*backupNotebook, error) {
	owner := env.owner(ctx)
	nb, err := env.st.CreateNotebook(owner, "Backup bench")
	if err != nil {
		return nil, err
	}
	tbl, err := env.st.CreateTable(owner, nb.ID, coffer.TableInput{Name: "Ledger", Columns: backupColumns})
	if err != nil {
		return nil, err
	}
	b := &backupNotebook{id: nb.ID, table: tbl}
	notebooks.NoHistory.Store(true)
	defer notebooks.NoHistory.Store(false)
	var (
		mu       sync.Mutex
		firstErr error
		next     atomic.Int64
		wg       sync.WaitGroup
		full     atomic.Bool
	)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(17, uint64(w)))
			for !full.Load() && ctx.Err() == nil {
				k := int(next.Add(1) - 1)
				ops := make([]coffer.BatchOp, loadBatch)
				for i := range ops {
					ops[i] = coffer.BatchOp{Op: coffer.OpCreate, Fields: backupFields(rng, k*loadBatch+i)}
				}
				res, err := env.st.Batch(owner, b.id, tbl.ID, ops)
				if err == nil {
					var n int64
					if n, err = notebookBytes(ctx, env, b.id); err == nil && n >= size {
						full.Store(true)
					}
				}
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					full.Store(true)
				} else {
					b.rows += len(res.Results)
					if len(b.ids) < maxSample {
						b.ids = append(b.ids, res.Results[0].ID, res.Results[len(res.Results)-1].ID)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, fmt.Errorf("fill the backup notebook: %w", firstErr)
	}
	return b, ctx.Err()
}

// owner is ctx with the bench account as caller.
func (e *benchEnv) owner(ctx context.Context) context.Context {
	return coffer.WithCaller(ctx, &coffer.Caller{UserID: e.userID, Email: e.email, SessionID: "bench"})
}

// notebookBytes is the size of a notebook's database: on SQLite its pages
// (those still in the WAL included), on PostgreSQL its schema's tables with
// their indexes and TOAST.
func notebookBytes(ctx context.Context, env *benchEnv, notebook string) (int64, error) {
	if pg, ok := env.backend.(*postgres.Backend); ok {
		schema, err := pg.NotebookSchema(notebook)
		if err != nil {
			return 0, err
		}
		var n int64
		err = pg.Pool().QueryRowContext(ctx, `SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
			JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1 AND c.relkind IN ('r', 'm')`, schema).Scan(&n)
		return n, err
	}
	db, release, err := env.backend.Notebook(ctx, notebook)
	if err != nil {
		return 0, err
	}
	defer release()
	var pages, pageSize int64
	if err := db.R.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return 0, err
	}
	if err := db.R.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		return 0, err
	}
	return pages * pageSize, nil
}

// backupWriterOp creates one ledger record over HTTP, as a user typing
// into the notebook would; bodies are prepared up front.
func (e *benchEnv) backupWriterOp(b *backupNotebook) opFunc {
	u := e.base + "/notebooks/" + b.id + "/tables/" + b.table.ID + "/records"
	bodies := e.bodies(256, func(rng *rand.Rand, i int) any {
		return map[string]any{"fields": backupFields(rng, 50_000_000+i)}
	})
	return func(ctx context.Context, rng *rand.Rand) error {
		return e.client.do(ctx, "POST", u, bodies[rng.IntN(len(bodies))], http.StatusCreated, nil)
	}
}

// fileStore is a files store of pseudo-random blobs (incompressible, as
// sealed blobs are) and the refs a snapshot of their notebook would list.
type fileStore struct {
	store blob.Store
	refs  []blobs.Ref
	bytes int64
	small int // blobs under blobs.SmallSize (packed by a backup)
}

// makeFileStore writes blobs into a local store in dir until they hold
// size bytes: nine small blobs (4 to 60 KiB: thumbnails, notes, scans of a
// page) for one large (1 to 8 MiB), so that packs and single objects are
// both exercised.
func makeFileStore(ctx context.Context, dir string, size int64) (*fileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s, err := local.Open(dir)
	if err != nil {
		return nil, err
	}
	fs := &fileStore{store: s}
	rng := rand.New(rand.NewPCG(5, 17))
	src := rand.NewChaCha8([32]byte{17})
	for i := 0; fs.bytes < size; i++ {
		n := int64(4<<10 + rng.IntN(56<<10))
		if i%10 == 9 {
			n = int64(1<<20 + rng.IntN(7<<20))
		}
		n = min(n, size-fs.bytes)
		h := sha256.New()
		key := "f/" + strconv.Itoa(i)
		if _, err := s.Put(ctx, key, io.TeeReader(io.LimitReader(src, n), h)); err != nil {
			s.Close()
			return nil, err
		}
		fs.refs = append(fs.refs, blobs.Ref{FileID: coffer.PrefixFile + strconv.Itoa(i), SHA256: hex.EncodeToString(h.Sum(nil)), BlobKey: key, Size: n})
		fs.bytes += n
		if n < blobs.SmallSize {
			fs.small++
		}
	}
	return fs, nil
}

// countingStore counts what goes through a blob.Store: bytes and objects
// written, bytes read.
type countingStore struct {
	blob.Store
	written, objects, read atomic.Int64
}

func (c *countingStore) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	n, err := c.Store.Put(ctx, key, r)
	if err == nil {
		c.written.Add(n)
		c.objects.Add(1)
	}
	return n, err
}

func (c *countingStore) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	rc, err := c.Store.Open(ctx, key, offset, length)
	if err != nil {
		return nil, err
	}
	return &countingReader{ReadCloser: rc, n: &c.read}, nil
}

// reset zeroes the counters.
func (c *countingStore) reset() {
	c.written.Store(0)
	c.objects.Store(0)
	c.read.Store(0)
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n.Add(int64(n))
	return n, err
}
