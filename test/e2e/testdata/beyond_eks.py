"""Pattern associations and session shaping through boto3, against a server
with associations.patterns and associations.sessionShaping on, a quota of 6,
the local backend and a principal (user/tagger) that may only tag and untag. Usage:
beyond_eks.py ENDPOINT_URL, with pod tokens in TOKENS (minted by the Go test).
"""
import json
import os
import sys

import boto3

from awscheck import Checker

endpoint = sys.argv[1]
tokens = json.loads(os.environ["TOKENS"])
region = "us-west-2"
eks = boto3.client("eks", endpoint_url=endpoint, region_name=region)
auth = boto3.client("eks-auth", endpoint_url=endpoint, region_name=region)
chk = Checker(secrets=tokens.values())
check, expect_error = chk.check, chk.expect_error
ROLE = "arn:aws:iam::111122223333:role/"


def create(ns, sa, role, **kw):
    return eks.create_pod_identity_association(clusterName="demo", namespace=ns, serviceAccount=sa,
                                               roleArn=ROLE + role, **kw)["association"]


def assume(tok):
    return auth.assume_role_for_pod_identity(clusterName="demo", token=tokens[tok])


# Precedence: exact namespace, then exact service account, then literals.
anyone = create("team-*", "*", "team")
web = create("team-*", "web", "team-web")
prod = create("team-prod", "*", "team-prod")
exact = create("team-prod", "web", "exact")
for tok, want, role in (("team-a/batch", anyone, "team"), ("team-a/web", web, "team-web"),
                        ("team-prod/batch", prod, "team-prod"), ("team-prod/web", exact, "exact")):
    r = assume(tok)
    check(r["podIdentityAssociation"] == {"associationArn": want["associationArn"], "associationId": want["associationId"]},
          f"{tok}: podIdentityAssociation {r['podIdentityAssociation']}, want {want['associationId']}")
    check(r["subject"] == dict(zip(("namespace", "serviceAccount"), tok.split("/"))), f"{tok}: subject {r['subject']}")
    check(f":assumed-role/{role}/" in r["assumedRoleUser"]["arn"], f"{tok}: {r['assumedRoleUser']['arn']}")
expect_error("ResourceNotFoundException", 404, auth.assume_role_for_pod_identity, clusterName="demo", token=tokens["other/web"])

# Ambiguity: same rank, overlapping (team-devs matches both), refused naming the other.
e = expect_error("ResourceInUseException", 409, eks.create_pod_identity_association, clusterName="demo",
                 namespace="*-devs", serviceAccount="*", roleArn=ROLE + "x")
check(anyone["associationId"] in e.response["Error"]["Message"], f"message {e.response['Error']['Message']} names no association")
# List filters stay literal; Describe shows the pattern as stored.
listed = eks.list_pod_identity_associations(clusterName="demo", namespace="team-a")["associations"]
check(listed == [], f"list namespace=team-a matched patterns: {listed}")
listed = eks.list_pod_identity_associations(clusterName="demo", namespace="team-*")["associations"]
check(sorted(a["serviceAccount"] for a in listed) == ["*", "web"], f"list namespace=team-*: {listed}")

# Quota: patterns count; the server allows 6.
create("ops-*", "*", "ops")
session = create("shop", "cart", "cart", tags={
    "podidentity.io/session-name": "{cluster}-{namespace}-{serviceAccount}",
    "podidentity.io/session-tag/team": "payments",
    "podidentity.io/session-tag/origin": "{namespace}.{podName}",
    "podidentity.io/transitive-session-tags": "team",
})
expect_error("ResourceLimitExceededException", 400, eks.create_pod_identity_association, clusterName="demo",
             namespace="more-*", serviceAccount="*", roleArn=ROLE + "x")

# A stable session name: the same for two pods, in the ARN and in GetCallerIdentity.
arns = []
for tok in ("shop/cart", "shop/cart-2"):
    r = assume(tok)
    c = r["credentials"]
    arns.append(r["assumedRoleUser"]["arn"])
    sts = boto3.client("sts", endpoint_url=endpoint, region_name=region, aws_access_key_id=c["accessKeyId"],
                       aws_secret_access_key=c["secretAccessKey"], aws_session_token=c["sessionToken"])
    who = sts.get_caller_identity()
    check(who["Arn"] == r["assumedRoleUser"]["arn"], f"GetCallerIdentity {who['Arn']}")
check(arns == ["arn:aws:sts::111122223333:assumed-role/cart/demo-shop-cart"] * 2, f"stable names {arns}")

# Refusals name the tag, on create, TagResource and update. TagResource's
# model (eks.service-2.json) has BadRequestException, not
# InvalidParameterException, for bad input: its dialect says so.
arn = session["associationArn"]
for tags, what in (({"podidentity.io/session-name": "{pod}"}, "unknown template variable {pod}"),
                   ({"podidentity.io/session-tag/kubernetes-namespace": "x"}, "six EKS session tags"),
                   ({"podidentity.io/transitive-session-tags": "nope"}, "is not a custom session tag")):
    e = expect_error("BadRequestException", 400, eks.tag_resource, resourceArn=arn, tags=tags)
    check(what in e.response["Error"]["Message"] and "tag podidentity.io/" in e.response["Error"]["Message"],
          f"TagResource {tags}: {e.response['Error']['Message']}")
e = expect_error("InvalidParameterException", 400, eks.update_pod_identity_association, clusterName="demo",
                 associationId=session["associationId"], disableSessionTags=True)
check("custom session tags need session tags" in e.response["Error"]["Message"], e.response["Error"]["Message"])
e = expect_error("InvalidParameterException", 400, eks.create_pod_identity_association, clusterName="demo",
                 namespace="shop", serviceAccount="x", roleArn=ROLE + "x", tags={"podidentity.io/session-name": "{namespace"})
check("tag podidentity.io/session-name: unmatched {" in e.response["Error"]["Message"], e.response["Error"]["Message"])
# Tagging alone does not shape sessions: a session tag overrides the role's
# own tag of that key in IAM, so it needs what an update needs.
tagger = boto3.client("eks", endpoint_url=endpoint, region_name=region, aws_access_key_id="AKIATAGGER0000000001",
                      aws_secret_access_key="tagger-secret")
e = expect_error("AccessDeniedException", 403, tagger.tag_resource, resourceArn=arn,
                 tags={"podidentity.io/session-tag/team": "b"})
check(e.response["Error"]["Message"] == "User: arn:aws:iam::111122223333:user/tagger is not authorized to perform: "
      f"eks:UpdatePodIdentityAssociation on resource: {arn}", e.response["Error"]["Message"])
expect_error("AccessDeniedException", 403, tagger.untag_resource, resourceArn=arn,
             tagKeys=["podidentity.io/session-tag/team"])
tagger.tag_resource(resourceArn=arn, tags={"owner": "tagger"})
check(eks.list_tags_for_resource(resourceArn=arn)["tags"].get("podidentity.io/session-tag/team") == "payments",
      "the tagger changed a session tag")
# A tag change takes effect on the next request.
eks.tag_resource(resourceArn=arn, tags={"podidentity.io/session-name": "fixed-{serviceAccount}"})
r = assume("shop/cart")
check(r["assumedRoleUser"]["arn"].endswith("/cart/fixed-cart"), f"after TagResource: {r['assumedRoleUser']['arn']}")
print(f"ok {chk.count} checks")
