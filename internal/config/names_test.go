package config

import (
	"strings"
	"testing"
)

func TestValidRegion(t *testing.T) {
	for _, r := range []string{"us-west-2", "us-east-1", "eu-central-1", "ap-southeast-7", "ap-northeast-3", "ca-west-1",
		"il-central-1", "mx-central-1", "cn-northwest-1", "us-gov-west-1", "us-iso-east-1", "us-isob-east-1",
		"us-isof-south-1", "eu-isoe-west-1", "eusc-de-east-1", "ap-southeast-9"} {
		if !validRegion(r) {
			t.Errorf("validRegion(%q) = false, want true", r)
		}
	}
	for _, r := range []string{"us-weast-2", "mars-1", "us-west", "US-WEST-2", "xx-west-1", "us-west-2 ", "us_west_2",
		"us-gov-weast-1", "cn-north-", "us-west-123", ""} {
		if validRegion(r) {
			t.Errorf("validRegion(%q) = true, want false", r)
		}
	}
}

func TestActionPatternProblem(t *testing.T) {
	for _, a := range []string{"*", "eks:*", "EKS:List*", "eks-auth:AssumeRoleForPodIdentity", "sts:GetCallerIdentity",
		"iam:PassRole", "eks*:*", "e?s:Describe*"} {
		if msg := actionPatternProblem(a); msg != "" {
			t.Errorf("actionPatternProblem(%q) = %q, want none", a, msg)
		}
	}
	for _, a := range []string{"ekss:*", "s3:GetObject", "eks", "eks:", ":*", "ec2:*"} {
		if msg := actionPatternProblem(a); msg == "" {
			t.Errorf("actionPatternProblem(%q) found no problem", a)
		}
	}
}

// The start-up refuses what it used to take silently, every problem named.
func TestValidateRefusesTypos(t *testing.T) {
	_, err := Parse([]byte(`
listen: 127.0.0.1:80800
region: us-weast-2
clusters:
  - {name: prod, issuer: https://k8s.example, discovery: true}
credentials: {backend: sts, region: eu-wst-1}
auth:
  principals:
    - arn: arn:aws:iam::123456789012:user/admin
      accessKeyId: AKIAADMIN0000000
      secretAccessKey: s
      actions: ["ekss:*", "eks-auth:AssumeRoleForPodIdentity"]
      clusters: ["*"]
  roles:
    - {roleArn: "arn:aws:iam::123456789012:role/ci", actions: ["eks:List*", "sts*"], clusters: ["*"]}
`))
	if err == nil {
		t.Fatal("Parse accepted a file full of typos")
	}
	for _, want := range []string{
		`listen: "127.0.0.1:80800" port "80800" is not a number from 0 to 65535`,
		`region: "us-weast-2" is not a region of an AWS partition`,
		`credentials.region: "eu-wst-1" is not a region`,
		`auth.principals[0].actions[0]: "ekss:*" names no service this server authorizes (eks, eks-auth, sts, iam)`,
		`auth.roles[0].actions[1]: "sts*" is not an IAM action pattern`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestPartition(t *testing.T) {
	for region, want := range map[string]string{
		"us-west-2": "aws", "eu-central-1": "aws", "cn-north-1": "aws-cn", "us-gov-west-1": "aws-us-gov",
		"us-iso-east-1": "aws-iso", "us-isob-east-1": "aws-iso-b", "us-isof-south-1": "aws-iso-f",
		"eu-isoe-west-1": "aws-iso-e", "eusc-de-east-1": "aws-eusc",
	} {
		if !validRegion(region) {
			t.Errorf("%s is not a valid region", region)
		}
		if got := Partition(region); got != want {
			t.Errorf("Partition(%q) = %q, want %q", region, got, want)
		}
	}
}
