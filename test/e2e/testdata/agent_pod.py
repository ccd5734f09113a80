"""A pod's process using boto3 as any application does: botocore's
container credential provider reads AWS_CONTAINER_CREDENTIALS_FULL_URI and
the token file AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, then STS
GetCallerIdentity is called with those credentials. Prints one JSON object.

Usage: agent_pod.py [STS_ENDPOINT]   (no endpoint: only fetch credentials)
"""
import json
import sys

import boto3

session = boto3.session.Session()
creds = session.get_credentials()
if creds is None:
    sys.exit("no credentials found")
if creds.method != "container-role":
    sys.exit("credentials came from %s, not the container provider" % creds.method)
frozen = creds.get_frozen_credentials()
out = {
    "method": creds.method,
    "accessKeyId": frozen.access_key,
    "accountId": getattr(frozen, "account_id", None),
}
if len(sys.argv) > 1:
    ident = session.client("sts", endpoint_url=sys.argv[1]).get_caller_identity()
    out["arn"] = ident["Arn"]
    out["account"] = ident["Account"]
print(json.dumps(out))
