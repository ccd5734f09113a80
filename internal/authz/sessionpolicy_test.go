package authz

import "testing"

func TestSessionPolicyEvaluate(t *testing.T) {
	const cluster = "arn:aws:eks:us-west-2:111122223333:cluster/demo"
	tests := []struct {
		name, policy, action, resource string
		want                           verdict
	}{
		{"allow matches", `{"Statement":[{"Effect":"Allow","Action":"eks:Describe*","Resource":"*"}]}`, "eks:DescribeCluster", cluster, verdictAllow},
		{"action case-insensitive", `{"Statement":[{"Effect":"Allow","Action":"EKS:describecluster","Resource":"*"}]}`, "eks:DescribeCluster", cluster, verdictAllow},
		{"resource case-sensitive", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:eks:us-west-2:111122223333:cluster/DEMO"}]}`, "eks:DescribeCluster", cluster, verdictNoAllow},
		{"statement as an object", `{"Statement":{"Effect":"Allow","Action":["eks:List*"],"Resource":["*"]}}`, "eks:ListClusters", "*", verdictAllow},
		{"no allow matches", `{"Statement":[{"Effect":"Allow","Action":"eks:List*","Resource":"*"}]}`, "eks:DescribeCluster", cluster, verdictNoAllow},
		{"deny wins", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"eks:Describe*","Resource":"*"}]}`, "eks:DescribeCluster", cluster, verdictExplicit},
		// The session may do what the grant and the policy both allow: a
		// policy with no Allow statement allows nothing, as in IAM.
		{"deny only allows nothing", `{"Statement":[{"Effect":"Deny","Action":"eks:Delete*","Resource":"*"}]}`, "eks:DescribeCluster", cluster, verdictNoAllow},
		{"empty statement list allows nothing", `{"Version":"2012-10-17","Statement":[]}`, "eks:DescribeCluster", cluster, verdictNoAllow},
		{"NotAction", `{"Statement":[{"Effect":"Allow","NotAction":"eks:Delete*","Resource":"*"}]}`, "eks:DeletePodIdentityAssociation", cluster, verdictNoAllow},
		{"NotResource", `{"Statement":[{"Effect":"Allow","Action":"*","NotResource":"arn:aws:eks:*:*:cluster/prod-*"}]}`, "eks:DescribeCluster", cluster, verdictAllow},
		{"NotResource excludes", `{"Statement":[{"Effect":"Allow","Action":"*","NotResource":"arn:aws:eks:*:*:cluster/de?o"}]}`, "eks:DescribeCluster", cluster, verdictNoAllow},
		{"conditional allow allows nothing", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}`, "eks:DescribeCluster", cluster, verdictNoAllow},
		{"conditional deny denies", `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}}]}`, "eks:DescribeCluster", cluster, verdictExplicit},
		{"not a policy", `{"Statement":"all"}`, "eks:DescribeCluster", cluster, verdictExplicit},
		{"no statement", `{"Version":"2012-10-17"}`, "eks:DescribeCluster", cluster, verdictExplicit},
		{"unknown effect", `{"Statement":[{"Effect":"allow","Action":"*","Resource":"*"}]}`, "eks:DescribeCluster", cluster, verdictExplicit},
		{"Action and NotAction", `{"Statement":[{"Effect":"Allow","Action":"*","NotAction":"x","Resource":"*"}]}`, "eks:DescribeCluster", cluster, verdictExplicit},
		{"no resource", `{"Statement":[{"Effect":"Allow","Action":"*"}]}`, "eks:DescribeCluster", cluster, verdictExplicit},
		// Element names are exact and given once: encoding/json alone
		// would read "action" as Action, the last one winning, and this
		// Deny would deny nothing.
		{"element in another case", `{"Statement":{"Effect":"Deny","Action":"eks:*","Resource":"*","action":"sts:Nothing"}}`, "eks:DescribeCluster", cluster, verdictExplicit},
		{"allow in another case", `{"Statement":{"effect":"Allow","Action":"*","Resource":"*"}}`, "eks:DescribeCluster", cluster, verdictExplicit},
		{"statement in another case", `{"statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, "eks:DescribeCluster", cluster, verdictExplicit},
		{"element given twice", `{"Statement":{"Effect":"Allow","Action":"eks:*","Resource":"*","Resource":"*"}}`, "eks:DescribeCluster", cluster, verdictExplicit},
		{"statement given twice", `{"Statement":[],"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, "eks:DescribeCluster", cluster, verdictExplicit},
		{"principal", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}`, "eks:DescribeCluster", cluster, verdictExplicit},
		{"data after the document", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}} {}`, "eks:DescribeCluster", cluster, verdictExplicit},
		{"all elements", `{"Version":"2012-10-17","Id":"x","Statement":[{"Sid":"a","Effect":"Allow","Action":"*","Resource":"*","Condition":{}}]}`, "eks:DescribeCluster", cluster, verdictAllow},
		// Policy variables are not substituted: a statement with one never
		// allows, and as a Deny matches whatever the variable could be.
		{"variable in an allow", `{"Statement":{"Effect":"Allow","Action":"eks:*","Resource":"arn:aws:eks:*:*:cluster/${aws:username}"}}`, "eks:DescribeCluster", "arn:aws:eks:us-west-2:111122223333:cluster/${aws:username}", verdictNoAllow},
		{"variable in an allow's action", `{"Statement":{"Effect":"Allow","Action":"eks:${x}","Resource":"*"}}`, "eks:${x}", cluster, verdictNoAllow},
		{"variable in a deny", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"eks:*","Resource":"arn:aws:eks:*:*:cluster/${aws:PrincipalTag/team}"}]}`, "eks:DescribeCluster", cluster, verdictExplicit},
		{"variable in a deny, other resource", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"eks:*","Resource":"arn:aws:eks:*:*:cluster/${aws:PrincipalTag/team}"}]}`, "eks:ListClusters", "*", verdictAllow},
		{"variable in a deny's NotResource", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"eks:*","NotResource":["arn:aws:eks:*:*:cluster/${aws:username}"]}]}`, "eks:DescribeCluster", "arn:aws:eks:us-west-2:111122223333:cluster/${aws:username}", verdictExplicit},
		{"unterminated variable in a deny", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"eks:Describe${x","Resource":"*"}]}`, "eks:DescribeCluster", cluster, verdictExplicit},
		{"null action", `{"Statement":[{"Effect":"Deny","NotAction":null,"Resource":"*"}]}`, "eks:DescribeCluster", cluster, verdictExplicit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sessionVerdict(tc.policy, tc.action, tc.resource); got != tc.want {
				t.Errorf("verdict = %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzSessionPolicy(f *testing.F) {
	f.Add(`{"Statement":[{"Effect":"Allow","Action":"eks:*","Resource":"*"}]}`, "eks:DescribeCluster", "arn:aws:eks:us-west-2:1:cluster/a")
	f.Fuzz(func(t *testing.T, policy, action, resource string) {
		v := sessionVerdict(policy, action, resource)
		if v != verdictAllow && v != verdictNoAllow && v != verdictExplicit {
			t.Fatalf("verdict %d", v)
		}
	})
}
