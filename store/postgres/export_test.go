package postgres

import "time"

// TestDialect is the dialect, for tests that need no database.
var TestDialect = dialect{fold: `"default"`}

// InvalidationListenerPID is the server process of the backend's cache
// invalidation listener (0 before it first connected).
func (b *Backend) InvalidationListenerPID() uint32 { return b.invPID.Load() }

// DelayInvalidationReconnect makes the invalidation listener wait d more
// before it reconnects after losing its connection.
func (b *Backend) DelayInvalidationReconnect(d time.Duration) { b.invRetry.Store(int64(d)) }

// PauseInvalidationHeartbeat stops (or restarts) the heartbeat that the
// invalidation listener must hear to trust its connection.
func (b *Backend) PauseInvalidationHeartbeat(pause bool) { b.invPaused.Store(pause) }
