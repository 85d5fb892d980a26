package coffer

// Audit events of the keyring (package keyring), in the instance's part
// of the audit log.
const (
	// EventKeysRotated: `coffer keys rotate` made a new master key current,
	// re-wrapped every data key under it and gave every scope a new data key.
	EventKeysRotated = "keys.rotated"
	// EventKeysShredded: a deleted notebook's data keys were destroyed.
	EventKeysShredded = "keys.shredded"
)
