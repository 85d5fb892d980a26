package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cofferhq/coffer/backup/location"
	"github.com/cofferhq/coffer/backup/retention"
	"github.com/cofferhq/coffer/backup/schedule"
	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/bloburl"
	"github.com/cofferhq/coffer/blob/local"
)

// backupConfig are the backup settings, shared by `coffer serve` and the
// backup commands (which must name the same locations as the server).
type backupConfig struct {
	url, copyURL string // the primary and second locations ("" = <data>/backups, and none)
	at           string
	days, months int
	drillEvery   string
	shipEvery    time.Duration // WAL shipping interval on SQLite; 0: off
	off          bool

	// Checked by check.
	atTime schedule.TimeOfDay
	every  time.Duration
}

// backupFlags registers the backup flags on fs. serve adds the off
// switch; the commands take the schedule flags too, to tell the next run.
func backupFlags(fs *flag.FlagSet, serve bool) *backupConfig {
	c := &backupConfig{}
	fs.StringVar(&c.url, "backup-url", env("COFFER_BACKUP_URL", ""), "where backups go: empty for <data>/backups, file:///absolute/dir, or s3://ACCESS:SECRET@host:port/bucket/prefix (COFFER_BACKUP_URL; prefer the variable: a flag shows in the process list)")
	fs.StringVar(&c.copyURL, "backup-copy-url", env("COFFER_BACKUP_COPY_URL", ""), "the second location every backup is copied to: file:///absolute/dir on another disk, or s3://… with credentials that cannot delete, ideally with object lock (COFFER_BACKUP_COPY_URL); empty: none")
	fs.IntVar(&c.days, "backup-days", envInt("COFFER_BACKUP_DAYS", 30), "keep every daily backup this many days (COFFER_BACKUP_DAYS)")
	fs.IntVar(&c.months, "backup-months", envInt("COFFER_BACKUP_MONTHS", 12), "keep the first good backup of each month this many months (COFFER_BACKUP_MONTHS)")
	c.at, c.drillEvery = env("COFFER_BACKUP_AT", "04:00"), env("COFFER_DRILL_EVERY", "168h")
	fs.StringVar(&c.at, "backup-at", c.at, "time of day of the daily backup, instance local time (TZ), HH:MM (COFFER_BACKUP_AT)")
	fs.StringVar(&c.drillEvery, "drill-every", c.drillEvery, "how often a restore drill runs, checking backups from every location (COFFER_DRILL_EVERY)")
	if serve {
		fs.DurationVar(&c.shipEvery, "ship-every", envDuration("COFFER_SHIP_EVERY", 30*time.Second), "on SQLite, ship the write-ahead log of notebooks that changed to the backup locations this often, encrypted, for point-in-time restore: about the most work lost with the machine (COFFER_SHIP_EVERY; 0 = off)")
		fs.BoolVar(&c.off, "backup-off", env("COFFER_BACKUP_OFF", "") == "true", "no daily backup, no shipping and no drills in this server (COFFER_BACKUP_OFF=true): for extra nodes of a PostgreSQL instance, or when backups are taken otherwise; browsing and restoring snapshots still work")
	} else {
		// The commands do not ship, but restore --at and pruning need the
		// server's interval: the same variable as the server's.
		c.shipEvery = envDuration("COFFER_SHIP_EVERY", 30*time.Second)
	}
	return c
}

// check reads the values of c.
func (c *backupConfig) check() error {
	var err error
	if c.atTime, err = schedule.ParseTimeOfDay(c.at); err != nil {
		return fmt.Errorf("--backup-at: %w", err)
	}
	if c.every, err = time.ParseDuration(c.drillEvery); err != nil || c.every < time.Hour {
		return fmt.Errorf("--drill-every must be a duration of at least 1h, such as 168h")
	}
	if c.shipEvery < 0 || (c.shipEvery > 0 && c.shipEvery < time.Second) {
		return fmt.Errorf("--ship-every must be 0 (off) or at least 1s, such as 30s")
	}
	if c.days < 1 || c.months < 0 {
		return fmt.Errorf("--backup-days must be at least 1 and --backup-months at least 0")
	}
	if c.url != "" && c.url == c.copyURL {
		return fmt.Errorf("--backup-copy-url must name another place than --backup-url")
	}
	return nil
}

// policy is the retention policy of c, in the instance's time zone.
func (c *backupConfig) policy() retention.Policy {
	months := c.months
	if months == 0 {
		months = -1 // none (0 is the default in retention.Policy)
	}
	return retention.Policy{Days: c.days, Months: months, Zone: time.Local}
}

// envDuration returns the environment variable as a duration, or def;
// a value that is not a duration gives -1 (refused by check).
func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return -1
		}
		return d
	}
	return def
}

// openLocation opens a backup location: "" is <data>/backups.
func openLocation(ctx context.Context, name, rawURL, dataDir string) (location.Location, error) {
	var s blob.Store
	var err error
	if rawURL == "" {
		s, err = local.Open(filepath.Join(dataDir, "backups"))
	} else {
		s, err = bloburl.Open(ctx, rawURL, dataDir)
	}
	if err != nil {
		return location.Location{}, fmt.Errorf("backup location %s: %w", name, err)
	}
	return location.New(name, s), nil
}

// describeLocation names a location for people, without credentials.
func describeLocation(rawURL, dataDir string) string {
	switch {
	case rawURL == "":
		return filepath.Join(dataDir, "backups")
	case strings.HasPrefix(rawURL, "s3:"):
		rest := strings.TrimPrefix(strings.TrimPrefix(rawURL, "s3:"), "//")
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			rest = rest[i+1:]
		}
		if i := strings.Index(rest, "?"); i >= 0 {
			rest = rest[:i]
		}
		return "s3://" + rest
	}
	return rawURL
}
