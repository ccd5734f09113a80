package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/logging"

	"github.com/podidentity/podidentity/internal/config"
	"github.com/podidentity/podidentity/internal/credentials/awssts"
	pi "github.com/podidentity/podidentity/internal/podidentity"
)

// identityCheckTimeout bounds the start-up look-up of the server's own AWS
// identity; credential providers such as IMDS can take seconds to give up.
const identityCheckTimeout = 15 * time.Second

// newSTSIssuer builds the sts credential backend. The server's own AWS
// identity comes from the SDK's default chain (environment, shared config
// and profile, web identity, IMDS, process credentials such as IAM Roles
// Anywhere's signing helper); the region from credentials.region, else that
// chain (AWS_REGION, the profile), else the server's region.
func newSTSIssuer(ctx context.Context, cfg *config.File, log *slog.Logger) (pi.CredentialIssuer, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if cfg.Credentials.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Credentials.Region))
	}
	// The SDK's own warnings (clock skew, retries given up) as structured
	// log lines rather than bare lines on stderr.
	opts = append(opts, awsconfig.WithLogger(logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		log.Warn(fmt.Sprintf(format, v...), "component", "aws-sdk", "level", string(c))
	})))
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("credentials.backend sts: loading the server's AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = cfg.Region
	}
	iss, err := awssts.NewIssuer(awssts.Config{AWS: awsCfg, Endpoint: cfg.Credentials.Endpoint, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("credentials.backend sts: %w", err)
	}
	// Say who the server is to AWS, or why it cannot tell, without holding
	// up the start: STS may be unreachable for a while, and requests then
	// fail with a retryable error until it is not.
	endpoint := cfg.Credentials.Endpoint
	if endpoint == "" {
		endpoint = "(AWS default for the region)"
	}
	go func() {
		ctx, cancel := context.WithTimeout(ctx, identityCheckTimeout)
		defer cancel()
		arn, err := iss.Identity(ctx)
		if err != nil {
			log.Warn("sts credential backend: could not confirm this server's AWS identity; AssumeRole calls fail until it can",
				"region", awsCfg.Region, "endpoint", endpoint, "err", err)
			return
		}
		log.Info("sts credential backend: pods get credentials from AWS STS", "identity", arn, "region", awsCfg.Region, "endpoint", endpoint)
	}()
	return iss, nil
}
