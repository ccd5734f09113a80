// Command whoami is the test node's workload: an ordinary AWS SDK program
// that knows nothing of podidentity. It loads aws-sdk-go-v2's default
// credential chain (in a mutated pod: the container credentials provider
// with AWS_CONTAINER_CREDENTIALS_FULL_URI and the projected token), calls
// STS GetCallerIdentity (at AWS_ENDPOINT_URL_STS) and prints the answer as
// one JSON line; a failure is printed the same way with "error" and the exit
// status 1.
package main

import (
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

type answer struct {
	Arn         string `json:"arn,omitempty"`
	Account     string `json:"account,omitempty"`
	UserID      string `json:"userId,omitempty"`
	AccessKeyID string `json:"accessKeyId,omitempty"`
	Source      string `json:"source,omitempty"`
	Error       string `json:"error,omitempty"`
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := run(ctx)
	json.NewEncoder(os.Stdout).Encode(a)
	if a.Error != "" {
		os.Exit(1)
	}
}

func run(ctx context.Context) answer {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return answer{Error: "loading the AWS configuration: " + err.Error()}
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return answer{Error: "retrieving credentials: " + err.Error()}
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return answer{AccessKeyID: creds.AccessKeyID, Source: creds.Source, Error: "GetCallerIdentity: " + err.Error()}
	}
	return answer{
		Arn: aws.ToString(out.Arn), Account: aws.ToString(out.Account), UserID: aws.ToString(out.UserId),
		AccessKeyID: creds.AccessKeyID, Source: creds.Source,
	}
}
