package coffer

import "context"

// Caller is the authenticated person on whose behalf a service method runs.
type Caller struct {
	UserID    string
	Email     string
	Name      string
	SessionID string
	Operator  bool
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
