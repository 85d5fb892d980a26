package notebooks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
)

// DefaultListTimeout is the time budget of one list request (its page and
// its total) unless SetListTimeout says otherwise.
const DefaultListTimeout = 10 * time.Second

// errListBudget is the cause of a list's context when its time budget ends.
var errListBudget = errors.New("the list's time budget ended")

// readBudget bounds what one list request may take from a notebook: a time
// budget, and a share of the notebook's read connections per caller.
type readBudget struct {
	timeout atomic.Int64 // nanoseconds; 0: DefaultListTimeout

	mu      sync.Mutex
	slots   map[string]*callerSlots // by user id | notebook id
	waiting atomic.Int64            // lists waiting for a slot of their caller

	hook atomic.Pointer[ListHook]
}

// callerSlots is one caller's semaphore on one notebook's readers.
type callerSlots struct {
	sem  chan struct{}
	refs int // holders and waiters; the entry goes when it drops to 0
}

// ListHook runs inside a list, after it took its caller's read slot and
// before its queries, with the list's context (its caller, its time
// budget) and the notebook's readers. For tests: a hook that blocks holds
// the slot, one that runs a query which never ends shows the budget
// interrupting it. A hook's error ends the list.
type ListHook func(ctx context.Context, readers *sql.DB) error

// SetListHook installs (nil: removes) the list hook; for tests only.
func (s *Service) SetListHook(h ListHook) {
	if h == nil {
		s.budget.hook.Store(nil)
		return
	}
	s.budget.hook.Store(&h)
}

// SetListTimeout sets the time budget of a list request (its page and its
// total, waiting for a read slot included); past it the list is cancelled
// with coffer.ETIMEOUT. d <= 0 restores DefaultListTimeout.
func (s *Service) SetListTimeout(d time.Duration) { s.budget.timeout.Store(int64(max(d, 0))) }

// ListTimeout returns the time budget of a list request.
func (s *Service) ListTimeout() time.Duration {
	if d := time.Duration(s.budget.timeout.Load()); d > 0 {
		return d
	}
	return DefaultListTimeout
}

// ListsWaiting counts the lists waiting for a read slot of their caller
// (for tests and metrics).
func (s *Service) ListsWaiting() int { return int(s.budget.waiting.Load()) }

// listContext returns ctx bounded by the list's time budget.
func (s *Service) listContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, s.ListTimeout(), errListBudget)
}

// overBudget turns the error of a list whose time budget ended into
// ETIMEOUT (whatever the driver made of the cancellation).
func (s *Service) overBudget(ctx context.Context, op string, err error) error {
	if err == nil || !errors.Is(context.Cause(ctx), errListBudget) {
		return err
	}
	return &coffer.Error{Code: coffer.ETIMEOUT, Op: op, Err: err,
		Message: fmt.Sprintf("the list took longer than its time budget (%s) and was cancelled: narrow the filter, or ask without count=true", s.ListTimeout())}
}

// readSlot takes one of the read slots of the caller on a notebook: a
// caller holds at most half of the notebook's read connections (at least
// one), so others are still served while one runs expensive lists. A
// caller whose slots are taken waits for one of its own, until ctx ends.
func (s *Service) readSlot(ctx context.Context, nc *catalog.Conn) (release func(), err error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return nil, err
	}
	k := c.UserID + "|" + nc.Notebook.ID
	b := &s.budget
	b.mu.Lock()
	if b.slots == nil {
		b.slots = map[string]*callerSlots{}
	}
	cs := b.slots[k]
	if cs == nil {
		cs = &callerSlots{sem: make(chan struct{}, max(1, nc.DB.Readers/2))}
		b.slots[k] = cs
	}
	cs.refs++
	b.mu.Unlock()
	unref := func() {
		b.mu.Lock()
		if cs.refs--; cs.refs == 0 {
			delete(b.slots, k)
		}
		b.mu.Unlock()
	}
	select {
	case cs.sem <- struct{}{}:
	default:
		b.waiting.Add(1)
		select {
		case cs.sem <- struct{}{}:
			b.waiting.Add(-1)
		case <-ctx.Done():
			b.waiting.Add(-1)
			unref()
			return nil, context.Cause(ctx)
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-cs.sem
			unref()
		})
	}, nil
}

// runHook runs the list hook, if any.
func (s *Service) runHook(ctx context.Context, nc *catalog.Conn) error {
	if h := s.budget.hook.Load(); h != nil {
		return (*h)(ctx, nc.DB.R)
	}
	return nil
}
