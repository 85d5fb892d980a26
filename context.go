package coffer

import "context"

// Caller is the authenticated person on whose behalf a service method runs.
type Caller struct {
	UserID    string
	Email     string
	Name      string
	SessionID string
	Operator  bool
	// MFA is true when the session was opened with a second factor.
	MFA bool
	// Restriction, when set, limits the session to one step (see Restrict*).
	Restriction string
	// APIKeyID is set when the caller authenticated with an API key; the
	// key's scope then narrows what the user may do.
	APIKeyID string
	// ReadOnly keys may not change anything.
	ReadOnly bool
	// Notebooks, when not nil, are the only notebooks the key reaches.
	Notebooks []string
}

// CanReach reports whether the caller's key scope includes the notebook.
func (c *Caller) CanReach(notebookID string) bool {
	if c.Notebooks == nil {
		return true
	}
	for _, id := range c.Notebooks {
		if id == notebookID {
			return true
		}
	}
	return false
}

type callerKey struct{}

// WithCaller returns a context that carries the caller.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller carried by ctx, or nil.
func CallerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}
