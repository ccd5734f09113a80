"""Sets up IAM in a moto server for the sts backend's end-to-end test.
Usage:
  sts_moto_iam.py ENDPOINT identity  -> creates the podidentity server's IAM user, its access key and a
                                        policy allowing sts:AssumeRole and sts:TagSession; prints
                                        {"arn", "accessKeyId", "secretAccessKey"} as JSON
  sts_moto_iam.py ENDPOINT roles     -> creates the roles listed as JSON in STS_ROLES:
                                        [{"name", "path", "trust": <policy>, "policy": <policy or null>}]
The Go test decides every policy document; this script is only an IAM client.
Runs before moto's authentication is switched on, so any credentials do."""
import json
import os
import sys

import boto3

endpoint, mode = sys.argv[1], sys.argv[2]
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")

if mode == "identity":
    user = iam.create_user(UserName="podidentity-server")["User"]
    key = iam.create_access_key(UserName="podidentity-server")["AccessKey"]
    iam.put_user_policy(UserName="podidentity-server", PolicyName="assume-pod-roles", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"],
                       "Resource": "arn:aws:iam::123456789012:role/*"}],
    }))
    print(json.dumps({"arn": user["Arn"], "accessKeyId": key["AccessKeyId"], "secretAccessKey": key["SecretAccessKey"]}))
elif mode == "roles":
    for r in json.loads(os.environ["STS_ROLES"]):
        iam.create_role(RoleName=r["name"], Path=r.get("path") or "/", AssumeRolePolicyDocument=json.dumps(r["trust"]),
                        MaxSessionDuration=r.get("maxSessionDuration") or 43200)
        if r.get("policy"):
            iam.put_role_policy(RoleName=r["name"], PolicyName="permissions", PolicyDocument=json.dumps(r["policy"]))
    print("ok")
else:
    sys.exit(f"unknown mode {mode}")
