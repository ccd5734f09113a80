"""Drive a local test server with botocore, the AWS signer in Python.

Used by botocore_test.go. Reads a JSON config on stdin:

    {"endpoint": "http://127.0.0.1:PORT", "region": "us-west-2",
     "access_key": "...", "secret_key": "...", "session_token": "..." or null,
     "scenarios": ["eks_list_clusters", ...]}

and prints one JSON object per scenario, in order, as a JSON list:
{"scenario": ..., "ok": true, "result": ...} or
{"scenario": ..., "ok": false, "status": 403, "code": "...", "message": "..."}.
"""

import json
import re
import sys
import urllib.error
import urllib.request
from email.utils import formatdate

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.httpsession
from botocore.config import Config
from botocore.exceptions import ClientError

ARN = "arn:aws:eks:us-west-2:111122223333:podidentityassociation/demo/a-abc"


def client(cfg, service):
    return boto3.client(
        service,
        endpoint_url=cfg["endpoint"],
        region_name=cfg["region"],
        aws_access_key_id=cfg["access_key"],
        aws_secret_access_key=cfg["secret_key"],
        aws_session_token=cfg.get("session_token"),
        config=Config(retries={"total_max_attempts": 1}),
    )


def fetch(url, headers=None):
    """GET url; return (status, body) without raising on HTTP errors."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def query_error(status, body):
    m = re.search(r"<Code>([^<]*)</Code>", body)
    return {"ok": False, "status": status, "code": m.group(1) if m else "", "message": body}


def presigned(cfg, cluster_header):
    sts = client(cfg, "sts")
    if cluster_header:
        # What aws-iam-authenticator and `aws eks get-token` do: sign a
        # header naming the cluster into the presigned URL.
        def add_header(request, **kwargs):
            request.headers["x-k8s-aws-id"] = "demo"

        sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_header)
    url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")
    status, body = fetch(url, {"x-k8s-aws-id": "demo"} if cluster_header else None)
    if status != 200:
        return query_error(status, body)
    return {"ok": True, "result": re.search(r"<Arn>([^<]*)</Arn>", body).group(1)}


def raw_signed(cfg, path, headers):
    """Sign an arbitrary request with botocore's SigV4Auth and send it."""
    creds = botocore.credentials.Credentials(cfg["access_key"], cfg["secret_key"], cfg.get("session_token"))
    req = botocore.awsrequest.AWSRequest(method="GET", url=cfg["endpoint"] + path, headers=headers)
    botocore.auth.SigV4Auth(creds, "eks", cfg["region"]).add_auth(req)
    resp = botocore.httpsession.URLLib3Session().send(req.prepare())
    body = resp.content.decode()
    if resp.status_code != 200:
        return {"ok": False, "status": resp.status_code, "code": resp.headers.get("x-amzn-errortype", ""), "message": body}
    return {"ok": True, "result": json.loads(body)}


def run(cfg, scenario):
    if scenario == "eks_list_clusters":
        return {"ok": True, "result": client(cfg, "eks").list_clusters()["clusters"]}
    if scenario == "eks_list_tags":
        return {"ok": True, "result": client(cfg, "eks").list_tags_for_resource(resourceArn=ARN)["tags"]}
    if scenario == "eks_list_associations":
        out = client(cfg, "eks").list_pod_identity_associations(clusterName="demo", namespace="kube system", maxResults=5)
        return {"ok": True, "result": out["associations"]}
    if scenario == "sts_get_caller_identity":
        return {"ok": True, "result": client(cfg, "sts").get_caller_identity()["Arn"]}
    if scenario == "sts_presigned":
        return presigned(cfg, cluster_header=False)
    if scenario == "sts_presigned_cluster_header":
        return presigned(cfg, cluster_header=True)
    if scenario == "sigv4_date_header":
        # botocore signs the HTTP Date header instead of X-Amz-Date when
        # the request already has one.
        return raw_signed(cfg, "/clusters", {"Date": formatdate(usegmt=True)})
    if scenario == "sigv4_dot_segments":
        # botocore signs the path with dot segments and double slashes removed.
        return raw_signed(cfg, "/clusters/./demo//x/../pod-identity-associations", {})
    if scenario == "sigv4_header_whitespace":
        return raw_signed(cfg, "/clusters", {"X-Custom": "  a   b  c ", "x-lower": "v"})
    raise ValueError("unknown scenario " + scenario)


def main():
    cfg = json.load(sys.stdin)
    results = []
    for scenario in cfg["scenarios"]:
        try:
            out = run(cfg, scenario)
        except ClientError as e:
            err = e.response["Error"]
            out = {
                "ok": False,
                "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
                "code": err.get("Code", ""),
                "message": err.get("Message", ""),
            }
        out["scenario"] = scenario
        results.append(out)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
