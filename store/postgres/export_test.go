package postgres

// TestDialect is the dialect, for tests that need no database.
var TestDialect = dialect{fold: `"default"`}

// InvalidationListenerPID is the server process of the backend's cache
// invalidation listener (0 before it first connected).
func (b *Backend) InvalidationListenerPID() uint32 { return b.invPID.Load() }
