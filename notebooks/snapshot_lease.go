package notebooks

import (
	"context"
	"strings"
	"time"

	"github.com/cofferhq/coffer/store"
)

// Sandboxes a crash leaves behind. A sandbox is a decrypted copy of a
// notebook: it must not outlive the process that loaded it. Before its
// storage is created, a sandbox (and a notebook being restored as a copy,
// until it is registered) takes a lease in the instance database
// (backup_leases, name "sandbox:<storage id>", held by this process's
// random salt), which the process renews every sandboxRenew while it holds
// it and gives up once the storage is dropped. A lease that ran out
// belongs to a process that died (or was stopped for longer than
// sandboxLease): its storage is an orphan, dropped by whichever process
// sweeps first, at start (SetSnapshots) and in SweepSnapshots. This works
// alike on SQLite (the command line beside a server is a second process
// on the same data directory) and on PostgreSQL (nodes share it).

const (
	// sandboxLease is how long a sandbox's lease runs without renewal.
	sandboxLease = 5 * time.Minute
	// sandboxRenew is how often a process renews its leases.
	sandboxRenew = time.Minute
	// leasePrefix names the leases of sandboxes in backup_leases.
	leasePrefix = "sandbox:"
)

// holder is this process's name in the leases.
func (s *Service) holder() string {
	s.bk.mu.Lock()
	defer s.bk.mu.Unlock()
	if s.bk.salt == "" {
		s.sandboxID("") // fills the salt
	}
	return "notebooks/" + s.bk.salt
}

// takeLease records that this process holds storage, and keeps renewing
// it until dropLease.
func (s *Service) takeLease(ctx context.Context, storage string) error {
	if err := s.writeLease(ctx, []string{storage}); err != nil {
		return err
	}
	s.bk.mu.Lock()
	if s.bk.leases == nil {
		s.bk.leases = map[string]bool{}
	}
	s.bk.leases[storage] = true
	start := !s.bk.renewing
	s.bk.renewing = true
	s.bk.mu.Unlock()
	if start {
		go s.renewLeases()
	}
	return nil
}

// writeLease sets the leases of storages to run for sandboxLease from now.
func (s *Service) writeLease(ctx context.Context, storages []string) error {
	holder := s.holder()
	until := s.Now().Add(sandboxLease).UnixMicro()
	return s.Write(context.WithoutCancel(ctx), s.Inst, "LeaseSandbox", func(tx *store.WriteTx) error {
		for _, st := range storages {
			if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO "+s.Inst.Prefix+"backup_leases (name, holder, until) VALUES (?, ?, ?) "+
				"ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until"), leasePrefix+st, holder, until); err != nil {
				return err
			}
		}
		return nil
	})
}

// renewLeases renews this process's leases every sandboxRenew while it
// holds any.
func (s *Service) renewLeases() {
	t := time.NewTicker(sandboxRenew)
	defer t.Stop()
	for range t.C {
		s.bk.mu.Lock()
		var held []string
		for st := range s.bk.leases {
			held = append(held, st)
		}
		if len(held) == 0 {
			s.bk.renewing = false
			s.bk.mu.Unlock()
			return
		}
		s.bk.mu.Unlock()
		_ = s.writeLease(context.Background(), held)
	}
}

// dropLease gives up the lease of storage (its storage dropped, or
// registered as a notebook).
func (s *Service) dropLease(ctx context.Context, storage string) {
	s.bk.mu.Lock()
	delete(s.bk.leases, storage)
	s.bk.mu.Unlock()
	holder := s.holder()
	_ = s.Write(context.WithoutCancel(ctx), s.Inst, "LeaseSandbox", func(tx *store.WriteTx) error {
		_, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"backup_leases WHERE name = ? AND holder = ?"), leasePrefix+storage, holder)
		return err
	})
}

// SweepOrphanSandboxes drops the storage of every sandbox whose lease ran
// out (its process died) and returns how many it dropped.
func (s *Service) SweepOrphanSandboxes(ctx context.Context) (int, error) {
	now := s.Now().UnixMicro()
	// This process's own sandboxes go by their idle time, never as orphans.
	rows, err := s.Inst.R.QueryContext(ctx, s.Rebind("SELECT name FROM "+s.Inst.Prefix+"backup_leases WHERE name LIKE ? AND until < ? AND holder <> ?"), leasePrefix+"%", now, s.holder())
	if err != nil {
		return 0, s.Wrap("SweepSandboxes", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return 0, s.Wrap("SweepSandboxes", err)
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, s.Wrap("SweepSandboxes", err)
	}
	dropped := 0
	for _, n := range names {
		storage := strings.TrimPrefix(n, leasePrefix)
		if !validSnapshotID(storage) {
			continue
		}
		// A registered notebook is never dropped: a copy whose process
		// died after registering it but before giving up its lease.
		var registered int
		if err := s.Inst.R.QueryRowContext(ctx, s.Rebind("SELECT COUNT(*) FROM "+s.Inst.Prefix+"notebooks WHERE id = ?"), storage).Scan(&registered); err != nil {
			return dropped, s.Wrap("SweepSandboxes", err)
		}
		if registered == 0 {
			_ = s.Storage.DropNotebook(ctx, storage) // gone already is fine
			dropped++
		}
		if err := s.Write(ctx, s.Inst, "SweepSandboxes", func(tx *store.WriteTx) error {
			_, err := tx.ExecContext(ctx, s.Rebind("DELETE FROM "+s.Inst.Prefix+"backup_leases WHERE name = ? AND until < ?"), n, now)
			return err
		}); err != nil {
			return dropped, err
		}
	}
	return dropped, nil
}
