package main

// Shared workload definitions used by both main.go (Markdown report) and
// bench_test.go (go test -bench). Everything goes through database/sql.

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"       // registers "sqlite3"
	_ "github.com/ncruces/go-sqlite3/vfs/adiantum" // registers the "adiantum" VFS
	_ "modernc.org/sqlite"                         // registers "sqlite"
)

// NumRows is the size of the table every workload starts from.
const NumRows = 100_000

// Driver describes one database/sql driver under test.
type Driver struct {
	Name    string // short label used in reports and benchmark names
	SQLName string // name passed to sql.Open
	Module  string // Go module providing it
	Extra   string // URI parameters placed before the common ones
}

// Drivers are the candidates, in report order.
// The first two are the head-to-head comparison; the third is ncruces with
// its Adiantum encryption-at-rest VFS, to price what encryption costs.
var Drivers = []Driver{
	{Name: "modernc", SQLName: "sqlite", Module: "modernc.org/sqlite"},
	{Name: "ncruces", SQLName: "sqlite3", Module: "github.com/ncruces/go-sqlite3"},
	{Name: "ncruces-adiantum", SQLName: "sqlite3", Module: "github.com/ncruces/go-sqlite3",
		// A fixed benchmark-only key; hexkey avoids the Argon2id KDF that
		// textkey would run on every connection open.
		Extra: "vfs=adiantum&_pragma=hexkey('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')&"},
}

// Note describes any non-default setup of the driver.
func (d Driver) Note() string {
	if d.Extra != "" {
		return "with URI parameters `" + d.Extra[:len(d.Extra)-1] + "`"
	}
	return ""
}

// DriverByName finds a driver by its report name.
func DriverByName(name string) (Driver, bool) {
	for _, d := range Drivers {
		if d.Name == name {
			return d, true
		}
	}
	return Driver{}, false
}

// DSN builds the same URI for both drivers. Both accept repeated _pragma
// parameters and _txlock. busy_timeout is listed first (ncruces applies
// pragmas in order, after any key; modernc always hoists busy_timeout first).
func (d Driver) DSN(path, synchronous string) string {
	return "file:" + path + "?" + d.Extra +
		"_pragma=busy_timeout(5000)" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(ON)" +
		"&_pragma=synchronous(" + synchronous + ")" +
		"&_txlock=immediate"
}

const schema = `
CREATE TABLE people (
	id     TEXT PRIMARY KEY,
	name   TEXT NOT NULL,
	age    INTEGER NOT NULL,
	team   TEXT NOT NULL,
	score  REAL NOT NULL,
	active INTEGER NOT NULL,
	date   TEXT NOT NULL,
	email  TEXT NOT NULL
);
CREATE INDEX people_age ON people(age);
`

const (
	insertSQL = `INSERT INTO people (id, name, age, team, score, active, date, email) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	getSQL    = `SELECT id, name, age, team, score, active, date, email FROM people WHERE id = ?`
	pageSQL   = `SELECT id, name, age, team, score, active, date, email FROM people WHERE age > ? AND team = ? ORDER BY age, id LIMIT 50`
	updateSQL = `UPDATE people SET score = ?, active = ?, date = ? WHERE id = ?`
)

var teams = []string{
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
	"india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
	"quebec", "romeo", "sierra", "tango",
}

var firstNames = []string{"Ada", "Alan", "Barbara", "Claude", "Donald", "Edsger", "Frances", "Grace", "Hedy", "John", "Ken", "Leslie", "Margaret", "Niklaus", "Radia", "Tony"}
var lastNames = []string{"Lovelace", "Turing", "Liskov", "Shannon", "Knuth", "Dijkstra", "Allen", "Hopper", "Lamarr", "Backus", "Thompson", "Lamport", "Hamilton", "Wirth", "Perlman", "Hoare"}

// Row is one record of the people table.
type Row struct {
	ID     string
	Name   string
	Age    int64
	Team   string
	Score  float64
	Active int64
	Date   string
	Email  string
}

const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// makeID returns a 30-character, random-looking, unique identifier:
// "usr_" + 26 base-32 characters encoding n mixed with a 64-bit random tail.
func makeID(r *rand.Rand, n uint64) string {
	var b [30]byte
	copy(b[:], "usr_")
	hi := n
	lo := r.Uint64()
	// 26 chars = 130 bits; first 13 from a scrambled counter (unique),
	// last 13 from the random value (makes keys non-sequential).
	hi *= 0x9E3779B97F4A7C15 // odd multiplier: a bijection mod 2^64
	hi ^= hi >> 29           // xorshift: also a bijection, so ids stay unique
	for i := 0; i < 13; i++ {
		b[4+i] = idAlphabet[hi&31]
		hi >>= 5
	}
	for i := 0; i < 13; i++ {
		b[17+i] = idAlphabet[lo&31]
		lo >>= 5
	}
	return string(b[:])
}

// genRow makes a deterministic pseudo-random row with sequence number n.
func genRow(r *rand.Rand, n uint64) Row {
	first := firstNames[r.IntN(len(firstNames))]
	last := lastNames[r.IntN(len(lastNames))]
	day := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(365*5))
	return Row{
		ID:     makeID(r, n),
		Name:   first + " " + last,
		Age:    int64(18 + r.IntN(63)), // 18..80
		Team:   teams[r.IntN(len(teams))],
		Score:  r.Float64() * 100,
		Active: int64(r.IntN(2)),
		Date:   day.Format("2006-01-02"),
		Email:  fmt.Sprintf("%s.%s.%d@example.com", first, last, n),
	}
}

// Dataset is the fixed 100k-row data set; identical for every driver.
type Dataset struct {
	Rows []Row
	IDs  []string
}

var (
	datasetOnce sync.Once
	dataset     *Dataset
)

// GetDataset generates (once) the shared data set from a fixed seed.
func GetDataset() *Dataset {
	datasetOnce.Do(func() {
		r := rand.New(rand.NewPCG(1, 2))
		ds := &Dataset{Rows: make([]Row, NumRows), IDs: make([]string, NumRows)}
		for i := range ds.Rows {
			ds.Rows[i] = genRow(r, uint64(i))
			ds.IDs[i] = ds.Rows[i].ID
		}
		dataset = ds
	})
	return dataset
}

// Fixture is a freshly created, loaded database.
type Fixture struct {
	DB       *sql.DB
	Dir      string
	Data     *Dataset
	LoadTime time.Duration // time of the 100k-row insert transaction
}

// Close closes the database and removes its files.
func (f *Fixture) Close() {
	if f.DB != nil {
		f.DB.Close()
	}
	os.RemoveAll(f.Dir)
}

// BaseDir is where temporary databases are created. It must be on a real
// disk (not tmpfs) for the synchronous=FULL numbers to mean anything.
var BaseDir = os.TempDir()

// OpenFresh creates an empty database in a new temporary directory, with the
// schema, and checks that the pragmas really took effect.
func OpenFresh(d Driver, synchronous string, maxConns int) (*sql.DB, string, error) {
	dir, err := os.MkdirTemp(BaseDir, "sqlitebench-"+d.Name+"-")
	if err != nil {
		return nil, "", err
	}
	db, err := sql.Open(d.SQLName, d.DSN(filepath.Join(dir, "bench.db"), synchronous))
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		os.RemoveAll(dir)
		return nil, "", fmt.Errorf("%s: schema: %w", d.Name, err)
	}
	if err := checkPragmas(db, synchronous); err != nil {
		db.Close()
		os.RemoveAll(dir)
		return nil, "", fmt.Errorf("%s: %w", d.Name, err)
	}
	return db, dir, nil
}

func checkPragmas(db *sql.DB, synchronous string) error {
	var jm string
	var fk, bt, sy int
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&jm); err != nil {
		return err
	}
	if err := db.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil {
		return err
	}
	if err := db.QueryRow(`PRAGMA busy_timeout`).Scan(&bt); err != nil {
		return err
	}
	if err := db.QueryRow(`PRAGMA synchronous`).Scan(&sy); err != nil {
		return err
	}
	wantSync := map[string]int{"OFF": 0, "NORMAL": 1, "FULL": 2, "EXTRA": 3}[synchronous]
	if jm != "wal" || fk != 1 || bt != 5000 || sy != wantSync {
		return fmt.Errorf("pragmas not applied: journal_mode=%s foreign_keys=%d busy_timeout=%d synchronous=%d (want wal/1/5000/%d)", jm, fk, bt, sy, wantSync)
	}
	return nil
}

// Load inserts all rows in one transaction with one prepared statement.
func Load(db *sql.DB, ds *Dataset) (time.Duration, error) {
	start := time.Now()
	tx, err := db.Begin()
	if err != nil {
		return 0, err
	}
	stmt, err := tx.Prepare(insertSQL)
	if err != nil {
		tx.Rollback()
		return 0, err
	}
	for i := range ds.Rows {
		r := &ds.Rows[i]
		if _, err := stmt.Exec(r.ID, r.Name, r.Age, r.Team, r.Score, r.Active, r.Date, r.Email); err != nil {
			stmt.Close()
			tx.Rollback()
			return 0, err
		}
	}
	stmt.Close()
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// NewFixture opens a fresh database and loads the 100k rows.
func NewFixture(d Driver, synchronous string, maxConns int) (*Fixture, error) {
	ds := GetDataset()
	db, dir, err := OpenFresh(d, synchronous, maxConns)
	if err != nil {
		return nil, err
	}
	f := &Fixture{DB: db, Dir: dir, Data: ds}
	f.LoadTime, err = Load(db, ds)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: load: %w", d.Name, err)
	}
	return f, nil
}

// Op is one unit of work. Each goroutine gets its own *rand.Rand.
type Op func(r *rand.Rand) error

// Workload describes one measured scenario.
type Workload struct {
	Name        string
	Key         string // identifier for benchmark names
	Synchronous string // FULL or NORMAL
	Parallel    int    // goroutines issuing ops
	Iterations  int    // default op count for main.go
	Prepare     func(f *Fixture) (Op, func(), error)
}

// Workloads lists the per-op scenarios (bulk load is reported separately).
var Workloads = []Workload{
	{Name: "Get by PK (1 goroutine)", Key: "GetByID", Synchronous: "FULL", Parallel: 1, Iterations: 100_000, Prepare: prepareGet},
	{Name: "Get by PK (4 goroutines)", Key: "GetByIDParallel4", Synchronous: "FULL", Parallel: 4, Iterations: 200_000, Prepare: prepareGet},
	{Name: "Filtered page of 50 (8 cols)", Key: "PageOf50", Synchronous: "FULL", Parallel: 1, Iterations: 500, Prepare: preparePage},
	{Name: "Insert 1 row/tx, synchronous=FULL", Key: "InsertTxFull", Synchronous: "FULL", Parallel: 1, Iterations: 3_000, Prepare: prepareInsert},
	{Name: "Insert 1 row/tx, synchronous=NORMAL", Key: "InsertTxNormal", Synchronous: "NORMAL", Parallel: 1, Iterations: 5_000, Prepare: prepareInsert},
	{Name: "Update 1 row/tx, synchronous=FULL", Key: "UpdateTxFull", Synchronous: "FULL", Parallel: 1, Iterations: 3_000, Prepare: prepareUpdate},
}

// Writes use a single connection so the transaction always runs on the
// connection the statement was prepared on; reads use up to 4.
func (w Workload) MaxConns() int {
	if w.Parallel > 1 {
		return w.Parallel
	}
	return 1
}

func prepareGet(f *Fixture) (Op, func(), error) {
	stmt, err := f.DB.Prepare(getSQL)
	if err != nil {
		return nil, nil, err
	}
	ids := f.Data.IDs
	op := func(r *rand.Rand) error {
		var row Row
		id := ids[r.IntN(len(ids))]
		if err := stmt.QueryRow(id).Scan(&row.ID, &row.Name, &row.Age, &row.Team, &row.Score, &row.Active, &row.Date, &row.Email); err != nil {
			return err
		}
		if row.ID != id {
			return fmt.Errorf("got id %q, want %q", row.ID, id)
		}
		return nil
	}
	return op, func() { stmt.Close() }, nil
}

func preparePage(f *Fixture) (Op, func(), error) {
	stmt, err := f.DB.Prepare(pageSQL)
	if err != nil {
		return nil, nil, err
	}
	op := func(r *rand.Rand) error {
		age := 18 + r.IntN(50) // 18..67: always plenty of matches
		team := teams[r.IntN(len(teams))]
		rows, err := stmt.Query(age, team)
		if err != nil {
			return err
		}
		n := 0
		var row Row
		for rows.Next() {
			if err := rows.Scan(&row.ID, &row.Name, &row.Age, &row.Team, &row.Score, &row.Active, &row.Date, &row.Email); err != nil {
				rows.Close()
				return err
			}
			n++
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n != 50 {
			return fmt.Errorf("page returned %d rows, want 50", n)
		}
		return nil
	}
	return op, func() { stmt.Close() }, nil
}

func prepareInsert(f *Fixture) (Op, func(), error) {
	stmt, err := f.DB.Prepare(insertSQL)
	if err != nil {
		return nil, nil, err
	}
	var seq atomic.Uint64
	seq.Store(1 << 40) // disjoint from the loaded rows' sequence numbers
	op := func(r *rand.Rand) error {
		row := genRow(r, seq.Add(1))
		tx, err := f.DB.Begin()
		if err != nil {
			return err
		}
		if _, err := tx.Stmt(stmt).Exec(row.ID, row.Name, row.Age, row.Team, row.Score, row.Active, row.Date, row.Email); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	}
	return op, func() { stmt.Close() }, nil
}

func prepareUpdate(f *Fixture) (Op, func(), error) {
	stmt, err := f.DB.Prepare(updateSQL)
	if err != nil {
		return nil, nil, err
	}
	ids := f.Data.IDs
	op := func(r *rand.Rand) error {
		id := ids[r.IntN(len(ids))]
		tx, err := f.DB.Begin()
		if err != nil {
			return err
		}
		res, err := tx.Stmt(stmt).Exec(r.Float64()*100, int64(r.IntN(2)), "2026-01-01", id)
		if err != nil {
			tx.Rollback()
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			tx.Rollback()
			return fmt.Errorf("update affected %d rows (err %v)", n, err)
		}
		return tx.Commit()
	}
	return op, func() { stmt.Close() }, nil
}

// RunOps executes n ops split across `parallel` goroutines and returns the
// elapsed wall time. Each goroutine has its own deterministic RNG.
func RunOps(ctx context.Context, op Op, n, parallel int, seed uint64) (time.Duration, error) {
	if parallel < 1 {
		parallel = 1
	}
	var wg sync.WaitGroup
	errs := make([]error, parallel)
	start := time.Now()
	for g := 0; g < parallel; g++ {
		cnt := n / parallel
		if g < n%parallel {
			cnt++
		}
		wg.Add(1)
		go func(g, cnt int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(g)+1))
			for i := 0; i < cnt; i++ {
				if err := op(r); err != nil {
					errs[g] = err
					return
				}
			}
		}(g, cnt)
	}
	wg.Wait()
	el := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return el, err
		}
	}
	return el, nil
}

// SQLiteVersion reports the engine version behind a driver.
func SQLiteVersion(d Driver) string {
	db, err := sql.Open(d.SQLName, ":memory:")
	if err != nil {
		return "?"
	}
	defer db.Close()
	var v string
	if err := db.QueryRow(`SELECT sqlite_version()`).Scan(&v); err != nil {
		return "?"
	}
	return v
}
