package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/backup"
	"github.com/cofferhq/coffer/backup/blobs"
	"github.com/cofferhq/coffer/blob/local"
)

// blobRun is one backup of the file store: its time and what it moved.
type blobRun struct {
	took             time.Duration
	written, objects int64 // bytes and objects put in the location
	read             int64 // bytes read back from the location (pack headers)
}

// filesBackupResult is what backing up an unchanged file store twice
// measured.
type filesBackupResult struct {
	bytes         int64 // of the file store
	blobs, small  int   // blobs, and those packed
	first, second blobRun
	// listBytes is the size of the blob entries as a snapshot's manifest
	// lists them (JSON): what every new snapshot of the notebook writes
	// again even when no file changed.
	listBytes int64
}

// runFileStoreBackup fills a file store of size bytes under dir and backs
// it up twice into a location of its own (blobs.Backup, as a daily
// snapshot does for a notebook's files), counting what each backup wrote.
// The second finds every blob already there: what it writes is what an
// unchanged store costs per day. Both must give the same entries.
func runFileStoreBackup(ctx context.Context, dir string, size int64) (*filesBackupResult, error) {
	fs, err := makeFileStore(ctx, filepath.Join(dir, "files"), size)
	if err != nil {
		return nil, err
	}
	defer fs.store.Close()
	loc, err := local.Open(filepath.Join(dir, "location"))
	if err != nil {
		return nil, err
	}
	dst := &countingStore{Store: loc}
	defer dst.Close()
	macKey := make([]byte, 32)
	rand.Read(macKey)
	notebook := coffer.NewID(coffer.PrefixNotebook)
	res := &filesBackupResult{bytes: fs.bytes, blobs: len(fs.refs), small: fs.small}
	var entries [2][]blobs.Entry
	for i, run := range []*blobRun{&res.first, &res.second} {
		dst.reset()
		start := time.Now()
		if entries[i], err = blobs.Backup(ctx, macKey, fs.store, dst, notebook, fs.refs); err != nil {
			return nil, fmt.Errorf("file store backup %d: %w", i+1, err)
		}
		*run = blobRun{took: time.Since(start), written: dst.written.Load(), objects: dst.objects.Load(), read: dst.read.Load()}
	}
	if !slices.Equal(entries[0], entries[1]) {
		return nil, fmt.Errorf("file store backup: the second backup of an unchanged store gave other entries than the first")
	}
	list, err := json.Marshal(backup.Manifest{Blobs: entries[1]}.Blobs)
	if err != nil {
		return nil, err
	}
	res.listBytes = int64(len(list))
	if res.first.written < fs.bytes {
		return nil, fmt.Errorf("file store backup: the first backup wrote %d bytes of a %d-byte store", res.first.written, fs.bytes)
	}
	return res, nil
}

// share is what the second backup adds, the blob objects it wrote and
// the manifest's list of blobs, as a share of the store.
func (f *filesBackupResult) share() float64 {
	return float64(f.second.written+f.listBytes) / float64(f.bytes)
}
