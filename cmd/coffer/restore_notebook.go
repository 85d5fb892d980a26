package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
)

// restoreNotebook runs one restore of notebook nb from a snapshot as the
// account as (default: the notebook's owner) and waits for its end,
// showing its progress.
func restoreNotebook(ctx context.Context, b *backups, nb, as string, in coffer.RestoreInput, stdout io.Writer) error {
	who, err := restoreCaller(ctx, b, nb, as)
	if err != nil {
		return err
	}
	cctx := coffer.WithCaller(ctx, who)
	job, err := b.st.Restore(cctx, nb, in)
	if err != nil {
		return err
	}
	p := newProgressPrinter(stdout)
	for job.Status == "running" {
		p.job(job)
		time.Sleep(200 * time.Millisecond)
		if job, err = b.st.FindRestore(cctx, job.ID); err != nil {
			return err
		}
	}
	p.job(job)
	if job.Status != "done" {
		msg := "the restore failed"
		if job.Error != nil {
			msg += ": " + job.Error.Message
		}
		return fmt.Errorf("%s", msg)
	}
	printRestored(stdout, job, in.Preview)
	return nil
}

// restoreCaller is the caller a command-line restore runs as.
func restoreCaller(ctx context.Context, b *backups, nb, as string) (*coffer.Caller, error) {
	var q, arg string
	if as != "" {
		q, arg = "SELECT id, email, name FROM "+b.st.Inst.Prefix+"users WHERE email_key = ? AND deactivated_at IS NULL", strings.ToLower(strings.TrimSpace(as))
	} else {
		q, arg = "SELECT u.id, u.email, u.name FROM "+b.st.Inst.Prefix+"notebooks n JOIN "+b.st.Inst.Prefix+"users u ON u.id = n.owner_id WHERE n.id = ?", nb
	}
	var c coffer.Caller
	if err := b.st.Inst.R.QueryRowContext(ctx, b.st.Rebind(q), arg).Scan(&c.UserID, &c.Email, &c.Name); err != nil {
		if as != "" {
			return nil, coffer.Errorf(coffer.ENOTFOUND, "no active account %s", as)
		}
		return nil, coffer.Errorf(coffer.ENOTFOUND, "notebook not found")
	}
	c.SessionID = "cli"
	return &c, nil
}

// job shows a restore job's progress.
func (p *progressPrinter) job(j *coffer.RestoreJob) {
	status := j.Status
	if status == "running" {
		status = "running"
	}
	line := fmt.Sprintf("restore %s of %s: %s %d/%d", j.Kind, j.Notebook, status, j.Done, j.Total)
	if p.terminal {
		fmt.Fprintf(p.w, "\r%-70s", line)
		if j.Status != "running" {
			fmt.Fprintln(p.w)
		}
		return
	}
	if line != p.last {
		fmt.Fprintln(p.w, line)
		p.last = line
	}
}

// printRestored says what a restore did.
func printRestored(w io.Writer, j *coffer.RestoreJob, preview bool) {
	r := j.Result
	if r == nil {
		return
	}
	if preview {
		for _, d := range r.Diff {
			fmt.Fprintf(w, "%s %s\n", d.Change, d.ID)
			for _, c := range d.Columns {
				if c.Changed {
					fmt.Fprintf(w, "  %s: %v → %v\n", c.Column, c.New, c.Old)
				}
			}
		}
		fmt.Fprintln(w, "preview only: nothing was written")
		return
	}
	if r.Safety != "" {
		fmt.Fprintf(w, "safety snapshot taken first: %s\n", r.Safety)
	}
	if r.Notebook != nil {
		fmt.Fprintf(w, "restored as a new notebook: %s (%s)\n", r.Notebook.Name, r.Notebook.ID)
	}
	if r.Table != nil {
		fmt.Fprintf(w, "restored as a new table: %s (%s)\n", r.Table.Name, r.Table.ID)
	}
	from := j.Snapshot
	if _, at, ok := parsePoint(from); ok {
		from = "the point in time " + at.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "restored from %s: %d created, %d updated, %d deleted", from, len(r.Created), len(r.Updated), len(r.Deleted))
	if r.Seq > 0 {
		fmt.Fprintf(w, " (history action %d: undo restores the state before)", r.Seq)
	}
	fmt.Fprintln(w)
	if len(r.Kept) > 0 {
		fmt.Fprintf(w, "encrypted columns left as they are today (their password changed since the snapshot): %s\n", strings.Join(r.Kept, ", "))
	}
}
