package postgres

import (
	"context"
	"fmt"
	"strings"
)

// CheckDurability reads the server settings that decide whether an
// acknowledged write survives a crash. It returns an error when the server
// runs with fsync=off (a crash can lose or corrupt data: Coffer refuses to
// run on it) and warnings for settings that can lose acknowledged commits
// without corrupting anything: synchronous_commit=off, and
// synchronous_commit=local while synchronous standbys are configured (a
// failover can then lose acknowledged commits).
func (b *Backend) CheckDurability(ctx context.Context) (warnings []string, err error) {
	return checkDurability(func(name string) (string, error) {
		var v string
		// SHOW takes no parameters; name is one of the constants below.
		err := b.pool.QueryRowContext(ctx, "SHOW "+name).Scan(&v)
		return v, err
	})
}

// checkDurability is CheckDurability on any source of settings.
func checkDurability(show func(name string) (string, error)) (warnings []string, err error) {
	get := func(name string) (string, error) {
		v, err := show(name)
		if err != nil {
			return "", fmt.Errorf("postgres: SHOW %s: %w", name, err)
		}
		return strings.ToLower(strings.TrimSpace(v)), nil
	}
	fsync, err := get("fsync")
	if err != nil {
		return nil, err
	}
	if fsync == "off" {
		return nil, fmt.Errorf("postgres: the server runs with fsync=off: a crash of the database server can lose acknowledged writes and corrupt the database; " +
			"Coffer refuses to run on it (set fsync=on in postgresql.conf and reload)")
	}
	sc, err := get("synchronous_commit")
	if err != nil {
		return nil, err
	}
	switch sc {
	case "off":
		warnings = append(warnings, "PostgreSQL runs with synchronous_commit=off: writes are acknowledged before they are on disk, "+
			"so a crash of the database server can lose the last acknowledged writes (set synchronous_commit=on)")
	case "local":
		standbys, err := get("synchronous_standby_names")
		if err != nil {
			return nil, err
		}
		if standbys != "" {
			warnings = append(warnings, "PostgreSQL runs with synchronous_commit=local while synchronous standbys are configured: "+
				"commits do not wait for the standbys, so a failover can lose acknowledged writes (set synchronous_commit=on or remote_apply)")
		}
	}
	return warnings, nil
}
