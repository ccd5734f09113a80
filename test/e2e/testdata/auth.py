"""Authentication and authorization as boto3 sees them. Usage: auth.py
ENDPOINT_URL, with TOKEN (a pod token for default/app in cluster demo) and
SECRETS_OUT (a file to write every secret this run saw, for the log scan)."""
import json
import os
import sys

import boto3
from botocore import UNSIGNED
from botocore.config import Config

from awscheck import Checker

endpoint = sys.argv[1]
region = "us-west-2"
c = Checker()
check, expect_error = c.check, c.expect_error


def client(service, key=None, secret=None, token=None, unsigned=False):
    kw = dict(endpoint_url=endpoint, region_name=region)
    if unsigned:
        kw["config"] = Config(signature_version=UNSIGNED)
    if key:
        kw.update(aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token)
    return boto3.client(service, **kw)


admin = client("eks")
admin.create_pod_identity_association(clusterName="demo", namespace="default", serviceAccount="app",
                                       roleArn="arn:aws:iam::111122223333:role/app")

expect_error("MissingAuthenticationTokenException", 403, client("eks", unsigned=True).list_clusters)
expect_error("MissingAuthenticationTokenException", 403, client("eks-auth", unsigned=True).assume_role_for_pod_identity,
             clusterName="demo", token=os.environ["TOKEN"])
expect_error("MissingAuthenticationToken", 403, client("sts", unsigned=True).get_caller_identity)
expect_error("InvalidSignatureException", 403, client("eks", os.environ["AWS_ACCESS_KEY_ID"], "wrong-secret").list_clusters)
expect_error("UnrecognizedClientException", 403, client("eks", "AKIAUNKNOWNKEY000000", "x").list_clusters)
expect_error("InvalidClientTokenId", 403, client("sts", "AKIAUNKNOWNKEY000000", "x").get_caller_identity)

# A long-term principal may ask STS who it is.
who = client("sts").get_caller_identity()
check(who["Arn"] == "arn:aws:iam::111122223333:user/e2e" and who["Account"] == "111122223333", f"admin identity {who}")

# The reader may only read cluster demo.
reader = client("eks", "AKIAREADER0000000000", "reader-secret-0000000000000000000000000")
check(len(reader.list_pod_identity_associations(clusterName="demo")["associations"]) == 1, "reader lists demo")
e = expect_error("AccessDeniedException", 403, reader.create_pod_identity_association, clusterName="demo",
                 namespace="kube-system", serviceAccount="x", roleArn="arn:aws:iam::111122223333:role/Admin")
check(e.response["Error"]["Message"] == "User: arn:aws:iam::111122223333:user/reader is not authorized to perform: "
      "eks:CreatePodIdentityAssociation on resource: arn:aws:eks:us-west-2:111122223333:cluster/demo",
      "AccessDenied message names user, action and resource: " + e.response["Error"]["Message"])
expect_error("AccessDeniedException", 403, reader.list_pod_identity_associations, clusterName="other")
# eks-auth models AccessDeniedException as a 400.
expect_error("AccessDeniedException", 400, client("eks-auth", "AKIAREADER0000000000", "reader-secret-0000000000000000000000000")
             .assume_role_for_pod_identity, clusterName="demo", token=os.environ["TOKEN"])

# Minted credentials may ask who they are, and nothing else by default.
creds = client("eks-auth", "AKIANODE000000000000", "node-secret-00000000000000000000000000").assume_role_for_pod_identity(
    clusterName="demo", token=os.environ["TOKEN"])["credentials"]
pod_sts = client("sts", creds["accessKeyId"], creds["secretAccessKey"], creds["sessionToken"])
check(":assumed-role/app/" in pod_sts.get_caller_identity()["Arn"], "pod identity")
pod_eks = client("eks", creds["accessKeyId"], creds["secretAccessKey"], creds["sessionToken"])
e = expect_error("AccessDeniedException", 403, pod_eks.list_pod_identity_associations, clusterName="demo")
check(":assumed-role/app/eks-demo-" in e.response["Error"]["Message"], "denial names the assumed role")

with open(os.environ["SECRETS_OUT"], "w") as f:
    json.dump([creds["secretAccessKey"], creds["sessionToken"], os.environ["TOKEN"]], f)
print(f"ok {c.count} checks")
