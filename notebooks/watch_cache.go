package notebooks

import (
	"sync"
	"time"
)

// rulesTTL is how long a notebook's rules are used before they are read
// again (changes made through this process apply at once).
const rulesTTL = 2 * time.Second

// ruleCache keeps each notebook's watch rules as read at some time.
//
// A read that began before a change of the rules must not be kept after
// it: the matcher may read the rules (without the new one) while the
// change commits, and store them after forget ran, and the change would
// then be ignored for rulesTTL. So every forget moves an epoch, and a
// read is stored only if no forget happened since its lookup.
type ruleCache struct {
	mu      sync.Mutex
	epoch   uint64
	entries map[string]cachedRules // by notebook id
}

// cachedRules are a notebook's rules as read at some time.
type cachedRules struct {
	rules []*storedWatch
	at    time.Time
}

// lookup returns the cached rules of nb when fresh at now; otherwise ok
// is false and epoch is what the caller passes to store with the rules
// it then reads.
func (c *ruleCache) lookup(nb string, now time.Time) (rules []*storedWatch, ok bool, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, found := c.entries[nb]
	if found && now.Sub(e.at) < rulesTTL {
		return e.rules, true, c.epoch
	}
	return nil, false, c.epoch
}

// store keeps rules read at now for nb, unless the rules changed (forget)
// since the lookup that returned epoch.
func (c *ruleCache) store(nb string, rules []*storedWatch, epoch uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return
	}
	if c.entries == nil {
		c.entries = map[string]cachedRules{}
	}
	c.entries[nb] = cachedRules{rules: rules, at: now}
}

// forget drops nb's cached rules and any read of them still in flight.
func (c *ruleCache) forget(nb string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	delete(c.entries, nb)
}
