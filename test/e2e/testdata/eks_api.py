"""Drives the EKS pod identity association API of a podidentity server with
boto3, exactly as a user would, and checks every answer. Usage:
    eks_api.py ENDPOINT_URL
Exits non-zero with a message on the first failed check."""
import sys
import uuid

import boto3

from awscheck import Checker

endpoint = sys.argv[1]
eks = boto3.client("eks", endpoint_url=endpoint, region_name="us-west-2")
ROLE = "arn:aws:iam::111122223333:role/app"
c = Checker()
check, expect_error = c.check, c.expect_error


# Clusters are configured, not created.
check(eks.list_clusters()["clusters"] == ["demo", "other"], "list_clusters")
cl = eks.describe_cluster(name="demo")["cluster"]
check(cl["status"] == "ACTIVE", "cluster status")
check(cl["arn"] == "arn:aws:eks:us-west-2:111122223333:cluster/demo", "cluster arn")
check(cl["identity"]["oidc"]["issuer"] == "https://issuer.example/demo", "cluster issuer")
check(hasattr(cl["createdAt"], "year"), "cluster createdAt parsed as a datetime")
expect_error("ResourceNotFoundException", 404, eks.describe_cluster, name="nope")

# Create: boto3 fills clientRequestToken itself (idempotencyToken).
a = eks.create_pod_identity_association(
    clusterName="demo", namespace="payments", serviceAccount="api", roleArn=ROLE,
    tags={"team": "payments"})["association"]
check(a["associationId"].startswith("a-") and len(a["associationId"]) == 19, "association id form")
check(a["associationArn"] == f"arn:aws:eks:us-west-2:111122223333:podidentityassociation/demo/{a['associationId']}", "association arn")
check(a["tags"] == {"team": "payments"}, "tags on create")
check(a["disableSessionTags"] is False, "disableSessionTags defaults to false")
check(a["createdAt"] == a["modifiedAt"] and hasattr(a["createdAt"], "tzinfo"), "timestamps")
check(eks.exceptions.ResourceInUseException is not None, "modelled exception classes exist")
try:
    eks.create_pod_identity_association(clusterName="demo", namespace="payments", serviceAccount="api", roleArn=ROLE)
    sys.exit("FAILED: duplicate create succeeded")
except eks.exceptions.ResourceInUseException:
    check(True, "duplicate create raised ResourceInUseException")

# Idempotency with an explicit token.
tok = str(uuid.uuid4())
b1 = eks.create_pod_identity_association(clusterName="demo", namespace="jobs", serviceAccount="worker",
                                         roleArn=ROLE, clientRequestToken=tok)["association"]
b2 = eks.create_pod_identity_association(clusterName="demo", namespace="jobs", serviceAccount="worker",
                                         roleArn=ROLE, clientRequestToken=tok)["association"]
check(b1["associationId"] == b2["associationId"], "idempotent retry returns the original")
expect_error("InvalidRequestException", 400, eks.create_pod_identity_association, clusterName="demo",
             namespace="jobs", serviceAccount="other", roleArn=ROLE, clientRequestToken=tok)

# Target role and session policy.
t = eks.create_pod_identity_association(
    clusterName="demo", namespace="data", serviceAccount="etl", roleArn=ROLE,
    targetRoleArn="arn:aws:iam::444455556666:role/DataAccess", disableSessionTags=True,
    policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}')["association"]
check(t["externalId"] == "us-west-2/111122223333/demo/data/etl", "externalId")
check(t["disableSessionTags"] is True, "disableSessionTags true")
expect_error("InvalidParameterException", 400, eks.create_pod_identity_association, clusterName="demo",
             namespace="data", serviceAccount="x", roleArn=ROLE, policy="{}")

# Describe, update, list.
d = eks.describe_pod_identity_association(clusterName="demo", associationId=a["associationId"])["association"]
check(d["associationArn"] == a["associationArn"] and d["roleArn"] == ROLE, "describe")
u = eks.update_pod_identity_association(clusterName="demo", associationId=a["associationId"],
                                        roleArn="arn:aws:iam::111122223333:role/app-v2")["association"]
check(u["roleArn"] == "arn:aws:iam::111122223333:role/app-v2", "update role")
check(u["modifiedAt"] >= u["createdAt"], "update modifiedAt")

for i in range(12):
    eks.create_pod_identity_association(clusterName="demo", namespace="bulk", serviceAccount=f"sa-{i:02d}", roleArn=ROLE)
pages = eks.get_paginator("list_pod_identity_associations").paginate(
    clusterName="demo", PaginationConfig={"PageSize": 5})
ids = [s["associationId"] for p in pages for s in p["associations"]]
check(len(ids) == 15 and len(set(ids)) == 15, f"paginated listing returned {len(ids)} ids")
bulk = eks.list_pod_identity_associations(clusterName="demo", namespace="bulk")["associations"]
check(len(bulk) == 12, "namespace filter")
one = eks.list_pod_identity_associations(clusterName="demo", namespace="bulk", serviceAccount="sa-03")["associations"]
check(len(one) == 1 and one[0]["serviceAccount"] == "sa-03", "serviceAccount filter")
expect_error("InvalidParameterException", 400, eks.list_pod_identity_associations, clusterName="demo", maxResults=500)
expect_error("ResourceNotFoundException", 404, eks.list_pod_identity_associations, clusterName="nope")

# Tags on associations and clusters.
eks.tag_resource(resourceArn=a["associationArn"], tags={"env": "prod"})
eks.untag_resource(resourceArn=a["associationArn"], tagKeys=["team"])
check(eks.list_tags_for_resource(resourceArn=a["associationArn"])["tags"] == {"env": "prod"}, "tags after tag/untag")
eks.tag_resource(resourceArn=cl["arn"], tags={"owner": "platform"})
check(eks.describe_cluster(name="demo")["cluster"]["tags"] == {"owner": "platform"}, "cluster tags")
expect_error("NotFoundException", 404, eks.list_tags_for_resource,
             resourceArn="arn:aws:eks:us-west-2:111122223333:podidentityassociation/demo/a-00000000000000000")
expect_error("BadRequestException", 400, eks.tag_resource, resourceArn="not-an-arn", tags={"a": "b"})

# Delete returns the association as it was.
gone = eks.delete_pod_identity_association(clusterName="demo", associationId=a["associationId"])["association"]
check(gone["associationId"] == a["associationId"] and gone["tags"] == {"env": "prod"}, "delete returns the association")
expect_error("ResourceNotFoundException", 404, eks.describe_pod_identity_association,
             clusterName="demo", associationId=a["associationId"])
expect_error("ResourceNotFoundException", 404, eks.delete_pod_identity_association,
             clusterName="demo", associationId="a-doesnotexist12345")

print(f"ok {c.count} checks")
