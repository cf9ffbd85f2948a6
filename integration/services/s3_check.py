"""End-to-end check of the S3 endpoint started by s3.sh (moto_server), with boto3.

Usage: s3_check.py ENDPOINT_URL
Creates a bucket, does a 3-part multipart upload (5 MiB, 5 MiB, 1 byte), completes it,
reads the object back, then starts a second upload, lists it with list_multipart_uploads
and aborts it. Exits non-zero on any mismatch.
"""

import hashlib
import os
import sys
import uuid

import boto3
from botocore.config import Config


def main() -> int:
    endpoint = sys.argv[1]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )
    bucket = f"spillway-check-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)

    parts_data = [os.urandom(5 * 1024 * 1024), os.urandom(5 * 1024 * 1024), b"x"]
    key = "dir/object.bin"
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)
    parts = []
    for n, data in enumerate(parts_data, start=1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=data)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": parts}
    )
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    want = b"".join(parts_data)
    if hashlib.sha256(body).digest() != hashlib.sha256(want).digest():
        print(f"read back {len(body)} bytes, expected {len(want)}", file=sys.stderr)
        return 1
    print(f"multipart upload of 3 parts ok: {len(body)} bytes read back")

    pending = s3.create_multipart_upload(Bucket=bucket, Key="dir/pending.bin")
    s3.upload_part(Bucket=bucket, Key="dir/pending.bin", UploadId=pending["UploadId"],
                   PartNumber=1, Body=b"y" * 1024)
    listed = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    ids = [u["UploadId"] for u in listed]
    if pending["UploadId"] not in ids:
        print(f"list_multipart_uploads does not show the pending upload: {ids}", file=sys.stderr)
        return 1
    print(f"list_multipart_uploads ok: {len(ids)} pending")
    s3.abort_multipart_upload(Bucket=bucket, Key="dir/pending.bin", UploadId=pending["UploadId"])
    left = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    if left:
        print(f"uploads left after abort: {left}", file=sys.stderr)
        return 1
    print("abort_multipart_upload ok")

    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.delete_bucket(Bucket=bucket)
    return 0


if __name__ == "__main__":
    sys.exit(main())
