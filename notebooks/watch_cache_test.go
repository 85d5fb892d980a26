package notebooks

import (
	"testing"
	"time"
)

// TestRuleCacheReadDuringChange: rules read while a change of them
// commits (the read began before the change's forget) are not kept, so
// the next event reads the rules again and sees the new one.
func TestRuleCacheReadDuringChange(t *testing.T) {
	var c ruleCache
	now := time.Now()
	if _, ok, _ := c.lookup("nb", now); ok {
		t.Fatal("empty cache answered")
	}
	_, _, epoch := c.lookup("nb", now)
	// The matcher reads the rules (none yet); meanwhile a rule is created
	// and its creation forgets the notebook's rules.
	c.forget("nb")
	c.store("nb", nil, epoch, now)
	if _, ok, _ := c.lookup("nb", now); ok {
		t.Fatal("rules read before the change were kept after it")
	}
	// A read that began after the change is kept, for rulesTTL.
	_, _, epoch = c.lookup("nb", now)
	rules := []*storedWatch{{}}
	c.store("nb", rules, epoch, now)
	if got, ok, _ := c.lookup("nb", now.Add(rulesTTL/2)); !ok || len(got) != 1 {
		t.Fatalf("fresh rules not served: %v %v", got, ok)
	}
	if _, ok, _ := c.lookup("nb", now.Add(rulesTTL)); ok {
		t.Fatal("rules served past rulesTTL")
	}
}
