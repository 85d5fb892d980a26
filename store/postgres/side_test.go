package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/postgres"
	"github.com/cofferhq/coffer/store/sqlite"
)

// sideEnv is one backend loaded with the side-by-side benchmark's table.
type sideEnv struct {
	s       *all.Store
	pg      *postgres.Backend // nil on SQLite
	app     string            // the pool's application_name on PostgreSQL
	ctx     context.Context
	nb, tb  string
	ids     []string
	cleanup func()
}

const sideRecords = 20_000

// newSideEnv loads sideRecords records of the shape coffer bench uses
// (Name, Age, Team) into a fresh store on SQLite (pgURL "") or PostgreSQL.
func newSideEnv(b *testing.B, pgURL string) *sideEnv {
	ctx := context.Background()
	e := &sideEnv{}
	if pgURL == "" {
		dir := b.TempDir()
		sb, err := sqlite.Open(ctx, dir, sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		e.s = all.New(sb, keyring.ForTests())
		e.cleanup = func() { sb.Close() }
	} else {
		sep := "?"
		if strings.Contains(pgURL, "?") {
			sep = "&"
		}
		e.app = randomName("side_")
		opts := testOptions()
		pb, err := postgres.Open(ctx, pgURL+sep+"application_name="+e.app, opts)
		if err != nil {
			b.Skip(err)
		}
		e.s, e.pg = all.New(pb, keyring.ForTests()), pb
		e.cleanup = func() {
			rows, err := pb.Pool().QueryContext(ctx, "SELECT nspname FROM pg_namespace WHERE nspname = $1 OR starts_with(nspname, $2)", opts.Schema, opts.NotebookSchemaPrefix)
			if err == nil {
				var names []string
				for rows.Next() {
					var n string
					rows.Scan(&n)
					names = append(names, `"`+n+`"`)
				}
				rows.Close()
				if len(names) > 0 {
					pb.Pool().ExecContext(ctx, "DROP SCHEMA "+strings.Join(names, ", ")+" CASCADE")
				}
			}
			pb.Close()
		}
	}
	u, err := e.s.CreateUser(ctx, coffer.UserInput{Email: "side@example.com", Name: "S", Password: "a long enough password, surely"})
	if err != nil {
		b.Fatal(err)
	}
	e.ctx = coffer.WithCaller(ctx, &coffer.Caller{UserID: u.ID, Email: u.Email})
	nb, err := e.s.CreateNotebook(e.ctx, "N")
	if err != nil {
		b.Fatal(err)
	}
	tb, err := e.s.CreateTable(e.ctx, nb.ID, coffer.TableInput{Name: "People", Columns: []coffer.ColumnInput{
		{Name: "Name", Type: coffer.TypeText}, {Name: "Age", Type: coffer.TypeNumber},
		{Name: "Team", Type: coffer.TypeSingleSelect, Options: coffer.ColumnOptions{Choices: []string{"red", "green", "blue", "yellow"}}},
	}})
	if err != nil {
		b.Fatal(err)
	}
	e.nb, e.tb = nb.ID, tb.ID
	rng := rand.New(rand.NewPCG(1, 2))
	for len(e.ids) < sideRecords {
		ops := make([]coffer.BatchOp, 500)
		for i := range ops {
			ops[i] = coffer.BatchOp{Op: "create", Fields: sideFields(rng)}
		}
		res, err := e.s.Batch(e.ctx, e.nb, e.tb, ops)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res.Results {
			e.ids = append(e.ids, r.ID)
		}
	}
	if e.pg != nil {
		if _, err := e.pg.Pool().ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
			b.Log(err)
		}
	}
	return e
}

func sideFields(rng *rand.Rand) map[string]any {
	return map[string]any{"Name": fmt.Sprintf("Person %d", rng.IntN(1e9)), "Age": rng.IntN(80), "Team": []string{"red", "green", "blue", "yellow"}[rng.IntN(4)]}
}

// BenchmarkSideBySide runs a get by id, a filtered sorted page of 50 and a
// create through the services (no HTTP) on SQLite and PostgreSQL in one
// process, interleaved (run it with -count 2 for A B A B), reporting the CPU
// each operation costs this process and PostgreSQL's server processes. It
// asserts nothing; timing decides nothing.
func BenchmarkSideBySide(b *testing.B) {
	requirePostgresB(b)
	envs := []struct {
		name string
		url  string
	}{{"sqlite", ""}, {"postgres", testURL()}}
	for _, env := range envs {
		e := newSideEnv(b, env.url)
		ops := []struct {
			name string
			op   func(rng *rand.Rand) error
		}{
			{"get", func(rng *rand.Rand) error {
				_, err := e.s.FindRecord(e.ctx, e.nb, e.tb, e.ids[rng.IntN(len(e.ids))])
				return err
			}},
			{"page", func(*rand.Rand) error {
				_, err := e.s.FindRecords(e.ctx, e.nb, e.tb, coffer.ListQuery{Filter: `Age > 30 && Team = "red"`, Sort: "-Age", Limit: 50})
				return err
			}},
			{"create", func(rng *rand.Rand) error {
				_, err := e.s.CreateRecord(e.ctx, e.nb, e.tb, sideFields(rng))
				return err
			}},
		}
		for _, o := range ops {
			b.Run(o.name+"/"+env.name, func(b *testing.B) {
				b.SetParallelism(8)
				var pg0 time.Duration
				if e.pg != nil {
					pg0 = serverCPU(b, e.pg, e.app)
				}
				go0 := processCPU()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
					for pb.Next() {
						if err := o.op(rng); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				goCPU := processCPU() - go0
				var pgCPU time.Duration
				if e.pg != nil {
					pgCPU = serverCPU(b, e.pg, e.app) - pg0
				}
				b.ReportMetric(float64(goCPU)/float64(b.N), "go-cpu-ns/op")
				b.ReportMetric(float64(pgCPU)/float64(b.N), "pg-cpu-ns/op")
				b.ReportMetric(float64(goCPU+pgCPU)/float64(b.N), "cpu-ns/op")
			})
		}
		e.cleanup()
	}
}

// requirePostgresB skips a benchmark when PostgreSQL is unreachable.
func requirePostgresB(b *testing.B) {
	db, err := postgres.Open(context.Background(), testURL(), testOptions())
	if err != nil {
		b.Skipf("PostgreSQL unreachable: %v", err)
	}
	db.Pool().Exec("DROP SCHEMA " + db.Instance().Prefix[:len(db.Instance().Prefix)-1] + " CASCADE")
	db.Close()
}
