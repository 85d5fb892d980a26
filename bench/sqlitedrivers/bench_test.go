package main

// Go benchmarks for the same workloads main.go reports. Example:
//
//	go test -run '^$' -bench . -benchtime 1s -benchmem
//
// Each (workload, driver) pair gets one fresh, loaded database that is reused
// across the b.N rounds of that sub-benchmark and removed at the end.

import (
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var benchDir = flag.String("dbdir", "", "directory for temporary databases (default os.TempDir)")

type benchFixture struct {
	f       *Fixture
	op      Op
	cleanup func()
}

var fixtures = map[string]*benchFixture{}

func TestMain(m *testing.M) {
	flag.Parse()
	if *benchDir != "" {
		BaseDir = *benchDir
	}
	code := m.Run()
	for _, bf := range fixtures {
		bf.cleanup()
		bf.f.Close()
	}
	os.Exit(code)
}

func getFixture(b *testing.B, w Workload, d Driver) *benchFixture {
	key := w.Key + "/" + d.Name
	if bf, ok := fixtures[key]; ok {
		return bf
	}
	f, err := NewFixture(d, w.Synchronous, w.MaxConns())
	if err != nil {
		b.Fatal(err)
	}
	op, cleanup, err := w.Prepare(f)
	if err != nil {
		f.Close()
		b.Fatal(err)
	}
	bf := &benchFixture{f: f, op: op, cleanup: cleanup}
	fixtures[key] = bf
	return bf
}

func benchWorkload(b *testing.B, key string) {
	var w Workload
	for _, x := range Workloads {
		if x.Key == key {
			w = x
		}
	}
	if w.Key == "" {
		b.Fatalf("no workload %q", key)
	}
	for _, d := range Drivers {
		b.Run(d.Name, func(b *testing.B) {
			bf := getFixture(b, w, d)
			b.ReportAllocs()
			b.ResetTimer()
			if _, err := RunOps(context.Background(), bf.op, b.N, w.Parallel, uint64(b.N)); err != nil {
				b.Fatal(err)
			}
		})
	}
}

func BenchmarkGetByID(b *testing.B)          { benchWorkload(b, "GetByID") }
func BenchmarkGetByIDParallel4(b *testing.B) { benchWorkload(b, "GetByIDParallel4") }
func BenchmarkPageOf50(b *testing.B)         { benchWorkload(b, "PageOf50") }
func BenchmarkInsertTxFull(b *testing.B)     { benchWorkload(b, "InsertTxFull") }
func BenchmarkInsertTxNormal(b *testing.B)   { benchWorkload(b, "InsertTxNormal") }
func BenchmarkUpdateTxFull(b *testing.B)     { benchWorkload(b, "UpdateTxFull") }

// BenchmarkBulkLoad: one op = create a fresh database and insert 100k rows in
// one transaction. Reports rows/s.
func BenchmarkBulkLoad(b *testing.B) {
	ds := GetDataset()
	for _, d := range Drivers {
		b.Run(d.Name, func(b *testing.B) {
			b.ReportAllocs()
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				db, dir, err := OpenFresh(d, "FULL", 1)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				el, err := Load(db, ds)
				b.StopTimer()
				db.Close()
				os.RemoveAll(dir)
				if err != nil {
					b.Fatal(err)
				}
				total += el
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N*NumRows)/total.Seconds(), "rows/s")
		})
	}
}

// TestWorkloadsSmoke runs every workload a few times on each driver so that
// `go test` (without -bench) checks the harness itself.
func TestWorkloadsSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 100k rows per driver")
	}
	for _, d := range Drivers {
		f, err := NewFixture(d, "FULL", 4)
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range Workloads {
			op, cleanup, err := w.Prepare(f)
			if err != nil {
				t.Fatalf("%s/%s: %v", w.Key, d.Name, err)
			}
			if _, err := RunOps(context.Background(), op, 8, w.Parallel, uint64(i)+1); err != nil {
				t.Fatalf("%s/%s: %v", w.Key, d.Name, err)
			}
			cleanup()
		}
		var n int
		if err := f.DB.QueryRow(`SELECT count(*) FROM people`).Scan(&n); err != nil || n != NumRows+8*2 {
			t.Fatalf("%s: count=%d err=%v, want %d", d.Name, n, err, NumRows+16)
		}
		// The encrypted variant must not leave a plaintext SQLite header.
		hdr := make([]byte, 16)
		fh, err := os.Open(filepath.Join(f.Dir, "bench.db"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadFull(fh, hdr)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		plain := string(hdr) == "SQLite format 3\x00"
		if want := d.Extra == ""; plain != want {
			t.Errorf("%s: plaintext header = %v, want %v", d.Name, plain, want)
		}
		f.Close()
	}
}
