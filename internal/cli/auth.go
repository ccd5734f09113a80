package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/podidentity/podidentity/internal/authz"
	"github.com/podidentity/podidentity/internal/config"
)

// principals loads the configured API callers, reading each secret from
// the config, a file or the environment, so secrets can stay out of the
// config file. Errors name the principal, never the secret.
func principals(cfg *config.File) ([]authz.Principal, error) {
	var out []authz.Principal
	for i, p := range cfg.Auth.Principals {
		secret := p.SecretAccessKey
		switch {
		case p.SecretAccessKeyFile != "":
			b, err := os.ReadFile(p.SecretAccessKeyFile)
			if err != nil {
				return nil, fmt.Errorf("auth.principals[%d] (%s): reading secretAccessKeyFile: %w", i, p.ARN, err)
			}
			secret = strings.TrimSpace(string(b))
		case p.SecretAccessKeyEnv != "":
			secret = os.Getenv(p.SecretAccessKeyEnv)
			if secret == "" {
				return nil, fmt.Errorf("auth.principals[%d] (%s): secretAccessKeyEnv: the environment variable %s is not set", i, p.ARN, p.SecretAccessKeyEnv)
			}
		}
		if secret == "" {
			return nil, fmt.Errorf("auth.principals[%d] (%s): the secret access key is empty", i, p.ARN)
		}
		out = append(out, authz.Principal{
			ARN: p.ARN, AccessKeyID: p.AccessKeyID, SecretAccessKey: secret,
			Grant: authz.Grant{Actions: p.Actions, Clusters: p.Clusters, PassRoles: p.PassRoles},
		})
	}
	return out, nil
}

func roleGrants(cfg *config.File) []authz.RoleGrant {
	var out []authz.RoleGrant
	for _, r := range cfg.Auth.Roles {
		out = append(out, authz.RoleGrant{RoleARN: r.RoleARN, Grant: authz.Grant{Actions: r.Actions, Clusters: r.Clusters, PassRoles: r.PassRoles}})
	}
	return out
}

// devPrincipal is who any unknown access key is in --dev mode: allowed
// everything, so the quickstart works with whatever keys are at hand.
func devPrincipal(cfg *config.File) func(string) authz.Caller {
	return func(accessKeyID string) authz.Caller {
		return &authz.Principal{
			ARN:         "arn:aws:iam::" + cfg.AccountID + ":user/dev",
			AccessKeyID: accessKeyID,
			Grant:       authz.Grant{Actions: []string{"*"}, Clusters: []string{"*"}, PassRoles: []string{"*"}},
		}
	}
}
