"""Drives AssumeRoleForPodIdentity and STS GetCallerIdentity of a podidentity
server with boto3. Usage: assume.py ENDPOINT_URL, with the tokens to use as a
JSON object in the TOKENS environment variable (minted by the Go test)."""
import datetime
import json
import os
import re
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


a = eks.create_pod_identity_association(clusterName="demo", namespace="default", serviceAccount="app",
                                        roleArn="arn:aws:iam::111122223333:role/path/app")["association"]
t = eks.create_pod_identity_association(clusterName="demo", namespace="data", serviceAccount="etl",
                                        roleArn="arn:aws:iam::111122223333:role/hop",
                                        targetRoleArn="arn:aws:iam::444455556666:role/DataAccess")["association"]

r = auth.assume_role_for_pod_identity(clusterName="demo", token=tokens["good"])
check(r["subject"] == {"namespace": "default", "serviceAccount": "app"}, f"subject {r['subject']}")
check(r["audience"] == "pods.eks.amazonaws.com", "audience")
check(r["podIdentityAssociation"] == {"associationArn": a["associationArn"], "associationId": a["associationId"]},
      "podIdentityAssociation")
arn = r["assumedRoleUser"]["arn"]
m = re.fullmatch(r"arn:aws:sts::111122223333:assumed-role/app/(eks-demo-web-0-[0-9a-f-]+)", arn)
check(m and len(m.group(1)) <= 64, f"assumedRoleUser.arn {arn}")
check(r["assumedRoleUser"]["assumeRoleId"].endswith(":" + m.group(1)) and
      r["assumedRoleUser"]["assumeRoleId"].startswith("AROA"), "assumeRoleId")
c = r["credentials"]
check(c["accessKeyId"].startswith("ASIA") and len(c["accessKeyId"]) == 20, "access key id form")
check(len(c["secretAccessKey"]) == 40, "secret length")
check(isinstance(c["expiration"], datetime.datetime), "expiration is a timestamp")
lifetime = c["expiration"] - datetime.datetime.now(datetime.timezone.utc)
check(datetime.timedelta(hours=5, minutes=55) < lifetime <= datetime.timedelta(hours=6), f"lifetime {lifetime}")

# The minted credentials work against our STS.
sts = boto3.client("sts", endpoint_url=endpoint, region_name=region, aws_access_key_id=c["accessKeyId"],
                   aws_secret_access_key=c["secretAccessKey"], aws_session_token=c["sessionToken"])
who = sts.get_caller_identity()
check(who["Arn"] == arn, f"GetCallerIdentity Arn {who['Arn']} != {arn}")
check(who["Account"] == "111122223333", "GetCallerIdentity Account")
check(who["UserId"] == r["assumedRoleUser"]["assumeRoleId"], "GetCallerIdentity UserId")

# Tampered, foreign and missing session tokens; wrong secret.
tampered = c["sessionToken"][:-8] + ("A" if c["sessionToken"][-8] != "A" else "B") + c["sessionToken"][-7:]
for bad_token in (tampered, "AQoDYXdzEJr" + "x" * 200, c["sessionToken"][:50]):
    bad = boto3.client("sts", endpoint_url=endpoint, region_name=region, aws_access_key_id=c["accessKeyId"],
                       aws_secret_access_key=c["secretAccessKey"], aws_session_token=bad_token)
    expect_error("InvalidClientTokenId", 403, bad.get_caller_identity)
bad = boto3.client("sts", endpoint_url=endpoint, region_name=region, aws_access_key_id=c["accessKeyId"],
                   aws_secret_access_key="x" * 40, aws_session_token=c["sessionToken"])
expect_error("SignatureDoesNotMatch", 403, bad.get_caller_identity)
bad = boto3.client("sts", endpoint_url=endpoint, region_name=region, aws_access_key_id="ASIAAAAAAAAAAAAAAAAA",
                   aws_secret_access_key=c["secretAccessKey"], aws_session_token=c["sessionToken"])
expect_error("InvalidClientTokenId", 403, bad.get_caller_identity)

# Role chaining: the credentials are the target role's, 1h by default.
r2 = auth.assume_role_for_pod_identity(clusterName="demo", token=tokens["etl"])
check(re.fullmatch(r"arn:aws:sts::444455556666:assumed-role/DataAccess/eks-demo-etl-0-[0-9a-f-]+",
                   r2["assumedRoleUser"]["arn"]), f"target role arn {r2['assumedRoleUser']['arn']}")
lifetime = r2["credentials"]["expiration"] - datetime.datetime.now(datetime.timezone.utc)
check(datetime.timedelta(minutes=55) < lifetime <= datetime.timedelta(hours=1), f"chained lifetime {lifetime}")
check(r2["podIdentityAssociation"]["associationId"] == t["associationId"], "target association id")

# Every failure the way EKS Auth reports it.
expect_error("ResourceNotFoundException", 404, auth.assume_role_for_pod_identity, clusterName="nope", token=tokens["good"])
expect_error("ResourceNotFoundException", 404, auth.assume_role_for_pod_identity, clusterName="demo", token=tokens["unassociated"])
expect_error("ExpiredTokenException", 400, auth.assume_role_for_pod_identity, clusterName="demo", token=tokens["expired"])
for name in ("otherKey", "wrongAud", "wrongIssuer", "noPod", "otherCluster"):
    expect_error("InvalidTokenException", 400, auth.assume_role_for_pod_identity, clusterName="demo", token=tokens[name])
# a.b.c has the shape of AWS's JwtToken pattern, so it is an invalid token;
# the others are not even tokens.
expect_error("InvalidTokenException", 400, auth.assume_role_for_pod_identity, clusterName="demo", token="a.b.c")
for garbage in ("not-a-jwt", "a.b", "a.b.c.d", "x" * 20000):
    expect_error("InvalidParameterException", 400, auth.assume_role_for_pod_identity, clusterName="demo", token=garbage)

print(f"ok {chk.count} checks")
