package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/schedule"
)

// progressPrinter shows a backup run's progress: a bar redrawn in place
// on a terminal, plain lines (one per snapshot and step) otherwise.
type progressPrinter struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	last     string // the last plain line, not repeated
	width    int    // of the last bar, to blank it
	drawn    time.Time
	run      schedule.Run
	detail   string // where the snapshot in hand is (terminal only)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	return &progressPrinter{w: w, terminal: isTerminal(w)}
}

// bar renders the progress of r in width characters of bar.
func bar(r schedule.Run, width int) string {
	filled := 0
	if r.Total > 0 {
		filled = r.Done * width / r.Total
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]"
}

// what says what r is doing.
func what(r schedule.Run) string {
	if r.Phase == "snapshots" && r.Current != "" {
		return "snapshot " + r.Current
	}
	return r.Phase
}

// snapshot shows how far the snapshot in hand has come (on a terminal).
func (p *progressPrinter) snapshot(pr backup.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.terminal || p.run.Status != schedule.StatusRunning {
		return
	}
	switch pr.Phase {
	case "image", "seal":
		p.detail = pr.Phase + " " + humanBytes(pr.Done)
		if pr.Total > 0 {
			p.detail += "/" + humanBytes(pr.Total)
		}
	case "blobs", "replicate":
		p.detail = fmt.Sprintf("%s %d", pr.Phase, pr.Done)
		if pr.Total > 0 {
			p.detail += fmt.Sprintf("/%d", pr.Total)
		}
	default:
		p.detail = ""
	}
	p.draw(false)
}

// update shows r.
func (p *progressPrinter) update(r schedule.Run) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.Current != p.run.Current || r.Phase != p.run.Phase {
		p.detail = ""
	}
	p.run = r
	if p.terminal {
		p.draw(r.Status != schedule.StatusRunning || r.Done >= r.Total)
		return
	}
	if r.Status != schedule.StatusRunning {
		return
	}
	line := fmt.Sprintf("%d/%d %s", r.Done, r.Total, what(r))
	if line != p.last {
		fmt.Fprintln(p.w, line)
		p.last = line
	}
}

// draw redraws the bar in place, at most ten times a second unless force.
func (p *progressPrinter) draw(force bool) {
	r := p.run
	if !force && time.Since(p.drawn) < 100*time.Millisecond {
		return
	}
	p.drawn = time.Now()
	{
		doing := what(r)
		if p.detail != "" {
			doing += " (" + p.detail + ")"
		}
		line := fmt.Sprintf("%s %d/%d %-40s %s", bar(r, 30), r.Done, r.Total, doing, humanBytes(r.Bytes))
		pad := max(0, p.width-len(line))
		fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
		p.width = len(line)
		if r.Status != schedule.StatusRunning {
			fmt.Fprintln(p.w)
		}
	}
}

// humanBytes formats n bytes for people.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
