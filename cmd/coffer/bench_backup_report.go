package main

import (
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"
	"time"
)

// printBackup prints the backup workloads against their targets, and the
// recovery point and time objectives.
func (r *benchReport) printBackup(w io.Writer) {
	b := r.backup
	if b == nil {
		return
	}
	backend := "SQLite"
	if b.postgres {
		backend = "PostgreSQL"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, figure, target string, ratio float64, met string) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%s\n", name, figure, target, ratio, met)
	}
	if b.snapshot != nil {
		fmt.Fprintf(w, "\nBackups (%s; a notebook of %s, %d records loaded in %s; snapshot sealed into a backup location on the local disk):\n",
			backend, fmtSize(b.size), b.rows, b.fillTook.Round(time.Millisecond))
		// Times are held to targets stated for 1 GiB: below it, met is not decided.
		timed := func(d, target time.Duration) string {
			if b.size < backupTargetSize {
				return "at 1 GiB only"
			}
			return yesNo(d <= target)
		}
		fmt.Fprintln(tw, "measure\tfigure\ttarget\tratio\tmet")
		row(fmt.Sprintf("snapshot and seal, %d writers running", b.writers), fmtDur(b.snapTook), "≤ "+snapshotMax.String(),
			ratioOf(b.snapTook, snapshotMax), timed(b.snapTook, snapshotMax))
		share := 0.0
		if b.normal() > 0 {
			share = b.during.rate() / b.normal()
		}
		row("writes during the snapshot vs normal", fmt.Sprintf("%.0f/s vs %.0f/s", b.during.rate(), b.normal()), fmt.Sprintf("≥ %.1f×", writerMinShare),
			share, yesNo(share >= writerMinShare))
		whole := b.imageTook + b.loadTook
		row("restore whole notebook (image + load)", fmt.Sprintf("%s (%s + %s)", fmtDur(whole), fmtDur(b.imageTook), fmtDur(b.loadTook)), "≤ "+restoreMax.String(),
			ratioOf(whole, restoreMax), timed(whole, restoreMax))
		row("restore one record, first from the snapshot (loads its sandbox)", fmtDur(b.recordCold), "≤ "+recordRestoreMax.String(),
			ratioOf(b.recordCold, recordRestoreMax), timed(b.recordCold, recordRestoreMax))
		row("restore one record, sandbox loaded", fmtDur(b.recordWarm), "≤ "+recordRestoreMax.String(),
			ratioOf(b.recordWarm, recordRestoreMax), yesNo(b.recordWarm <= recordRestoreMax))
		tw.Flush()
		fmt.Fprintf(w, "writer alone: %.0f/s before, %.0f/s after (normal: their mean); during: %d writes, %d errors; beside one goroutine that only spins (a core of %d taken): %.0f/s (%.2f×)\n",
			b.before.rate(), b.after.rate(), b.during.ops, b.during.errors, runtime.GOMAXPROCS(0), b.spin.rate(), b.spin.rate()/max(b.normal(), 1e-9))
		if len(b.phases) > 0 {
			fmt.Fprint(w, "writes by phase of the snapshot:")
			for i, p := range b.phases {
				fmt.Fprintf(w, "%s %s %s %.0f/s (%.2f×)", map[bool]string{true: ",", false: ""}[i > 0], p.phase, fmtDur(p.took), p.rate, p.rate/max(b.normal(), 1e-9))
			}
			fmt.Fprintln(w)
		}
		if b.pressure != "" {
			fmt.Fprintf(w, "the machine as the snapshot ended (time some task waited, last 10 s; others' load included): %s\n", b.pressure)
		}
		fmt.Fprintf(w, "snapshot %s: %d rows, sealed image %s (%.2f× the database); restored %d records, as many as the snapshot holds\n",
			b.snapshot.ID, b.snapshot.Rows, fmtSize(b.imageSize), float64(b.imageSize)/float64(max(b.size, 1)), b.restoredRows)
	}
	if f := b.files; f != nil {
		fmt.Fprintf(w, "\nUnchanged file store backed up again (%s in %d blobs, %d of them packed; the issue's figure is for 10 GB; a new snapshot's manifest lists every blob again: %d bytes here):\n",
			fmtSize(f.bytes), f.blobs, f.small, f.listBytes)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "backup\ttime\tblobs written\tobjects\tread back\tadded with the manifest's list\tshare of the store\ttarget\tmet")
		fmt.Fprintf(tw, "first\t%s\t%d bytes\t%d\t%d bytes\t\t%.4f%%\t\t\n", fmtDur(f.first.took), f.first.written, f.first.objects, f.first.read,
			100*float64(f.first.written)/float64(f.bytes))
		fmt.Fprintf(tw, "second, unchanged\t%s\t%d bytes\t%d\t%d bytes\t%d bytes\t%.4f%%\t≤ %.0f%%\t%s\n", fmtDur(f.second.took), f.second.written, f.second.objects, f.second.read,
			f.second.written+f.listBytes, 100*f.share(), unchangedMaxShare*100, yesNo(f.share() <= unchangedMaxShare))
		tw.Flush()
	}
	fmt.Fprintf(w, "\nRecovery objectives (%s):\n", backend)
	fmt.Fprintf(w, "  RPO: %s (%s); target ≤ %s: %s\n", fmtDur(b.rpo), b.rpoNote, rpoMax, yesNo(b.rpo <= rpoMax))
	if s := b.ship; s != nil {
		fmt.Fprintf(w, "  shipping: %d writes (one per %s), %d segments, %s shipped; at most %d acknowledged writes lost at one moment, %d of them acknowledged an interval or more before it (promised: 0); a point-in-time restore took %s (median)\n",
			s.writes, shipWriteEvery, s.segments, fmtSize(s.shipped), s.lostWrites, s.lostOld, fmtDur(s.restoreMedian))
	}
	if b.snapshot != nil {
		fmt.Fprintf(w, "  RTO: %s, the measured restore of the whole notebook of %s (one record: %s, %s once its snapshot is loaded)\n", fmtDur(b.imageTook+b.loadTook), fmtSize(b.size), fmtDur(b.recordCold), fmtDur(b.recordWarm))
	} else {
		fmt.Fprintln(w, "  RTO: not measured (--backup-size 0)")
	}
}

// ratioOf is d as a share of target.
func ratioOf(d, target time.Duration) float64 { return d.Seconds() / target.Seconds() }
