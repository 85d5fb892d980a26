package sqlite

// Hooks for the tests of package sqlite_test.

// WriterCheckpointFrames is the WAL size (pages) above which the writer
// checkpoints itself.
const WriterCheckpointFrames = writerCheckpointFrames

// PauseCheckpoints stops the background checkpoints of an open notebook
// until resume is called.
func PauseCheckpoints(b *Backend, notebook string) (resume func()) {
	b.mu.Lock()
	m := b.open[notebook].m
	b.mu.Unlock()
	m.hold.Lock()
	return m.hold.Unlock
}

// BetweenStatPieces sets a function called after each piece of a notebook's
// statistics refresh, with the piece's name, while the writer is free.
func BetweenStatPieces(b *Backend, notebook string, f func(piece string)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.open[notebook].m.between = f
}

// ShippingTestHooks sets, on an open notebook with a WAL hook, a function
// called between the writer's release and each checkpoint, and one
// called after it with the frames the hook read and those copied.
func ShippingTestHooks(b *Backend, notebook string, freed func(), checkpointed func(read, copied int)) {
	b.mu.Lock()
	m := b.open[notebook].m
	b.mu.Unlock()
	m.hold.Lock()
	defer m.hold.Unlock()
	m.ship.freed, m.ship.checkpointed = freed, checkpointed
}
