// Command agentclient is a pod's process using aws-sdk-go-v2 as any
// application does: the default configuration chain finds the container
// credential provider (endpointcreds) from AWS_CONTAINER_CREDENTIALS_FULL_URI
// and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, then it calls STS
// GetCallerIdentity with those credentials. It prints one JSON object.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func main() {
	stsEndpoint := flag.String("sts-endpoint", "", "STS endpoint to call GetCallerIdentity on; empty: only fetch credentials")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, *stsEndpoint); err != nil {
		fmt.Fprintln(os.Stderr, "agentclient:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, stsEndpoint string) error {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return err
	}
	out := map[string]any{
		"source":      creds.Source,
		"accessKeyId": creds.AccessKeyID,
		"accountId":   creds.AccountID,
		"expires":     creds.Expires.UTC().Format(time.RFC3339),
	}
	if stsEndpoint != "" {
		client := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(stsEndpoint) })
		id, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return err
		}
		out["arn"], out["account"] = aws.ToString(id.Arn), aws.ToString(id.Account)
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
