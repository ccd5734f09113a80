package server

import (
	"context"

	"github.com/podidentity/podidentity/internal/authz"
)

type callerKey struct{}

func withCaller(ctx context.Context, c authz.Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// callerFrom returns the authenticated caller of a request, nil for an
// endpoint that needs none.
func callerFrom(ctx context.Context) authz.Caller {
	c, _ := ctx.Value(callerKey{}).(authz.Caller)
	return c
}

// callerARN names a caller in logs; never a secret.
func callerARN(c authz.Caller) string {
	if c == nil {
		return ""
	}
	arn, _, _ := c.Identity()
	return arn
}
