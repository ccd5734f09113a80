package tokenmint

import (
	"fmt"
	"time"
)

// Lifetimes of the tokens a --dev server mints on request for its
// clusters: an hour unless asked otherwise, as a projected token's default
// is; at least a minute, so a token outlives the command that fetched it;
// at most two days, so one pasted somewhere soon stops working.
const (
	DefaultDevTTL = time.Hour
	MinDevTTL     = time.Minute
	MaxDevTTL     = 48 * time.Hour
)

// DevTTL is the lifetime of a token a --dev server mints when asked for
// requested: DefaultDevTTL when requested is 0, else requested if it lies
// within [MinDevTTL, MaxDevTTL].
func DevTTL(requested time.Duration) (time.Duration, error) {
	if requested == 0 {
		return DefaultDevTTL, nil
	}
	if requested < MinDevTTL || requested > MaxDevTTL {
		return 0, fmt.Errorf("tokenmint: a development token lives between %s and %s, not %s", MinDevTTL, MaxDevTTL, requested)
	}
	return requested, nil
}
