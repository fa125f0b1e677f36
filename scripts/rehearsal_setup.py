#!/usr/bin/env python3
"""Create the local rehearsal's AWS resources in LocalStack, idempotently (boto3 only).

Run by `scripts/localstack.sh setup` with the LocalStack venv's Python, which has boto3, and
with AWS_ENDPOINT_URL and the test credentials set to the local LocalStack. Creates:

  S3 bucket   $ALBWATCH_REHEARSAL_BUCKET  (albwatch-logs)
  SQS queue   $ALBWATCH_REHEARSAL_QUEUE   (albwatch-ingest)
  the bucket notification s3:ObjectCreated:* -> that queue, for keys AWSLogs/*.log.gz
              (logs at the bucket's root; template.yaml filters on LogPrefix and .log.gz)
  Kinesis     $ALBWATCH_REHEARSAL_STREAM  (albwatch), $ALBWATCH_REHEARSAL_SHARDS (2) shards,
              waited for until ACTIVE

and prints one line per resource (created / exists).
"""

import json
import os
import sys
import time

import boto3
from botocore.exceptions import ClientError

BUCKET = os.environ.get("ALBWATCH_REHEARSAL_BUCKET", "albwatch-logs")
QUEUE = os.environ.get("ALBWATCH_REHEARSAL_QUEUE", "albwatch-ingest")
STREAM = os.environ.get("ALBWATCH_REHEARSAL_STREAM", "albwatch")
SHARDS = int(os.environ.get("ALBWATCH_REHEARSAL_SHARDS", "2"))
PREFIX, SUFFIX = "AWSLogs/", ".log.gz"
STREAM_TIMEOUT = 60


def say(kind, name, what):
    print("  %-20s %-40s %s" % (kind, name, what), flush=True)


def code(e):
    return e.response.get("Error", {}).get("Code", "")


def ensure_bucket(s3):
    try:
        s3.head_bucket(Bucket=BUCKET)
        say("S3 bucket", BUCKET, "exists")
        return
    except ClientError as e:
        if code(e) not in ("404", "NoSuchBucket", "NotFound"):
            raise
    try:
        s3.create_bucket(Bucket=BUCKET)  # us-east-1: no LocationConstraint
        say("S3 bucket", BUCKET, "created")
    except ClientError as e:
        if code(e) != "BucketAlreadyOwnedByYou":
            raise
        say("S3 bucket", BUCKET, "exists")


def ensure_queue(sqs):
    try:
        url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
        what = "exists"
    except ClientError as e:
        if "NonExistentQueue" not in code(e):
            raise
        url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        what = "created"
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    # What a real account needs for S3 to send to the queue (LocalStack does not check it).
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::" + BUCKET}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    say("SQS queue", QUEUE, "%s (%s)" % (what, url))
    return url, arn


def rules(queue_config):
    got = queue_config.get("Filter", {}).get("Key", {}).get("FilterRules", [])
    return sorted((r["Name"].lower(), r["Value"]) for r in got)


def ensure_notification(s3, sqs, queue_url, queue_arn):
    want = {
        "Id": "albwatch-ingest",
        "QueueArn": queue_arn,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {
            "Key": {
                "FilterRules": [
                    {"Name": "prefix", "Value": PREFIX},
                    {"Name": "suffix", "Value": SUFFIX},
                ]
            }
        },
    }
    have = s3.get_bucket_notification_configuration(Bucket=BUCKET).get("QueueConfigurations", [])
    what = "s3:ObjectCreated:* on %s*%s -> %s" % (PREFIX, SUFFIX, QUEUE)
    if any(
        q.get("QueueArn") == queue_arn
        and q.get("Events") == want["Events"]
        and rules(q) == rules(want)
        for q in have
    ):
        say("S3 notification", BUCKET, "exists: " + what)
        return
    # Replaces the bucket's whole notification configuration (this bucket is the rehearsal's).
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET, NotificationConfiguration={"QueueConfigurations": [want]}
    )
    # S3 then sends an s3:TestEvent to the queue: remove it, so the queue holds only the
    # notifications of uploaded objects.
    for _ in range(3):
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            break
        for m in messages:
            if json.loads(m["Body"]).get("Event") == "s3:TestEvent":
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            else:  # not ours to take: visible again at once
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                )
    say("S3 notification", BUCKET, "created: " + what)


def ensure_stream(kinesis):
    what = "exists"
    try:
        kinesis.create_stream(StreamName=STREAM, ShardCount=SHARDS)
        what = "created"
    except ClientError as e:
        if code(e) != "ResourceInUseException":
            raise
    deadline = time.monotonic() + STREAM_TIMEOUT
    while True:
        d = kinesis.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]
        if d["StreamStatus"] == "ACTIVE":
            break
        if time.monotonic() > deadline:
            sys.exit("stream %s not ACTIVE after %d s (%s)" % (STREAM, STREAM_TIMEOUT, d["StreamStatus"]))
        time.sleep(0.5)
    shards = d.get("OpenShardCount")
    note = "" if shards == SHARDS else " (not the %d asked for: delete it to recreate)" % SHARDS
    say("Kinesis stream", STREAM, "%s, ACTIVE, %s shards%s" % (what, shards, note))


def main():
    if not os.environ.get("AWS_ENDPOINT_URL"):
        sys.exit("AWS_ENDPOINT_URL is not set: run me through scripts/localstack.sh setup")
    session = boto3.session.Session()
    ensure_bucket(session.client("s3"))
    sqs = session.client("sqs")
    queue_url, queue_arn = ensure_queue(sqs)
    ensure_notification(session.client("s3"), sqs, queue_url, queue_arn)
    ensure_stream(session.client("kinesis"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
