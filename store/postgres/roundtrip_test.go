package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/postgres"
)

// stmtLog records the statements a pool sends, as a pgx tracer.
type stmtLog struct {
	mu   sync.Mutex
	on   bool
	sqls []string
}

func (l *stmtLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	l.mu.Lock()
	if l.on {
		l.sqls = append(l.sqls, d.SQL)
	}
	l.mu.Unlock()
	return ctx
}

func (l *stmtLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// record starts recording and returns a function that stops and returns what was sent.
func (l *stmtLog) record() func() []string {
	l.mu.Lock()
	l.on, l.sqls = true, nil
	l.mu.Unlock()
	return func() []string {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.on = false
		return l.sqls
	}
}

func TestDumpRoundTrips(t *testing.T) {
	requirePostgres(t)
	ctx := context.Background()
	log := &stmtLog{}
	opts := testOptions()
	opts.Tracer = log
	b := openBackendOpts(t, testURL(), opts)
	s := all.New(b)
	const email, password = "rt@example.com", "a long enough password, surely"
	if _, err := s.CreateUser(ctx, coffer.UserInput{Email: email, Name: "RT", Password: password}); err != nil {
		t.Fatal(err)
	}
	sess, err := s.Login(ctx, email, password)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Authenticate(ctx, sess.Key)
	if err != nil {
		t.Fatal(err)
	}
	cctx := coffer.WithCaller(ctx, c)
	nb, err := s.CreateNotebook(cctx, "N")
	if err != nil {
		t.Fatal(err)
	}
	tb, err := s.CreateTable(cctx, nb.ID, coffer.TableInput{Name: "T", Columns: []coffer.ColumnInput{{Name: "A", Type: coffer.TypeText}, {Name: "B", Type: coffer.TypeNumber}}})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.CreateRecord(cctx, nb.ID, tb.ID, map[string]any{"A": "x", "B": 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		stop := log.record()
		if _, err := s.Authenticate(ctx, sess.Key); err != nil {
			t.Fatal(err)
		}
		t.Logf("auth: %d\n%s", len(stop()), strings.Join(stop(), "\n---\n"))
		stop = log.record()
		if _, err := s.FindRecord(cctx, nb.ID, tb.ID, rec.ID); err != nil {
			t.Fatal(err)
		}
		got := stop()
		t.Logf("get: %d\n%s", len(got), strings.Join(got, "\n---\n"))
		stop = log.record()
		if _, err := s.FindRecords(cctx, nb.ID, tb.ID, coffer.ListQuery{Limit: 50}); err != nil {
			t.Fatal(err)
		}
		got = stop()
		t.Logf("list: %d\n%s", len(got), strings.Join(got, "\n---\n"))
		stop = log.record()
		if _, err := s.CreateRecord(cctx, nb.ID, tb.ID, map[string]any{"A": "y", "B": 2}); err != nil {
			t.Fatal(err)
		}
		got = stop()
		t.Logf("create: %d\n%s", len(got), strings.Join(got, "\n---\n"))
	}
}

var _ = postgres.Options{}

// serverCPU sums the CPU time of the server processes of the connections
// named app, from /proc (Linux, server on this machine), in nanoseconds.
func serverCPU(b *testing.B, be *postgres.Backend, app string) time.Duration {
	rows, err := be.Pool().Query("SELECT pid FROM pg_stat_activity WHERE application_name = $1", app)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var total time.Duration
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			b.Fatal(err)
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
		ut, _ := strconv.Atoi(f[11])
		st, _ := strconv.Atoi(f[12])
		total += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return total
}

// processCPU is this process's CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
