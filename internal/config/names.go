package config

import (
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/podidentity/podidentity/internal/iamglob"
)

// partitionRegions are the region grammars of AWS's partitions, as
// aws-sdk-go-v2 knows them (internal/endpoints/awsrulesfn/partitions.json,
// regionRegex), with the SDK's "\w+" narrowed to the compass words every
// AWS region name uses. The SDK's grammar alone takes "us-weast-2"; this
// one refuses it and still takes a region AWS opens tomorrow
// (ap-southeast-9), which a fixed list of today's regions would not.
var partitionRegions = regexp.MustCompile(`^(` +
	`(us|eu|ap|sa|ca|me|af|il|mx)` + // aws
	`|cn` + // aws-cn
	`|eusc-de` + // aws-eusc
	`|us-gov` + // aws-us-gov
	`|us-iso|us-isob|us-isof|eu-isoe` + // the isolated partitions
	`)-(north|south|east|west|central|northeast|northwest|southeast|southwest)-\d{1,2}$`)

// Partition is the AWS partition of a valid region, the word every ARN of
// that region carries after "arn:" (partitions.json's ids).
func Partition(region string) string {
	for _, p := range []struct{ prefix, id string }{
		{"us-gov-", "aws-us-gov"},
		{"us-isob-", "aws-iso-b"},
		{"us-isof-", "aws-iso-f"},
		{"us-iso-", "aws-iso"},
		{"eu-isoe-", "aws-iso-e"},
		{"eusc-", "aws-eusc"},
		{"cn-", "aws-cn"},
	} {
		if strings.HasPrefix(region, p.prefix) {
			return p.id
		}
	}
	return "aws"
}

// validRegion reports whether name is a region of a known AWS partition.
func validRegion(name string) bool {
	return partitionRegions.MatchString(name)
}

// actionServices are the IAM service prefixes whose actions this server
// authorizes: the EKS association and cluster APIs, EKS Auth's
// AssumeRoleForPodIdentity, STS's GetCallerIdentity, and iam:PassRole.
var actionServices = []string{"eks", "eks-auth", "sts", "iam"}

// actionPatternProblem says what is wrong with an IAM action pattern, or
// "" when it names actions of a service this server authorizes. A typo in
// the service ("ekss:*") would otherwise grant nothing, silently.
func actionPatternProblem(pattern string) string {
	if pattern == "*" {
		return ""
	}
	service, action, ok := strings.Cut(pattern, ":")
	if !ok || service == "" || action == "" {
		return "is not an IAM action pattern such as eks:* or eks-auth:AssumeRoleForPodIdentity"
	}
	for _, s := range actionServices {
		if iamglob.MatchAction(service, s) {
			return ""
		}
	}
	return "names no service this server authorizes (" + strings.Join(actionServices, ", ") + ")"
}

// listenProblem says what is wrong with a listen address, or "".
func listenProblem(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "is not host:port, such as 127.0.0.1:8080 or :8080"
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "port " + strconv.Quote(port) + " is not a number from 0 to 65535"
	}
	return ""
}
