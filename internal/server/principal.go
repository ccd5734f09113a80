package server

import (
	"context"

	"github.com/podidentity/podidentity/internal/authz"
	pi "github.com/podidentity/podidentity/internal/podidentity"
)

type principalKey struct{}

func withPrincipal(ctx context.Context, p any) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalFrom returns the authenticated caller of a request.
func principalFrom(ctx context.Context) any { return ctx.Value(principalKey{}) }

// callerARN names a principal in logs; never a secret.
func callerARN(p any) string {
	switch who := p.(type) {
	case *authz.Principal:
		return who.ARN
	case *pi.SessionPrincipal:
		return who.AssumedRoleARN
	}
	return ""
}
