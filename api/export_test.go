package api

import "time"

// SetLiveHeartbeat changes the heartbeat period of live-update streams for
// a test; the returned function restores it.
func SetLiveHeartbeat(d time.Duration) (restore func()) {
	old := liveHeartbeat
	liveHeartbeat = d
	return func() { liveHeartbeat = old }
}
