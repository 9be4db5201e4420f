"""Let boto3 get its instance-role credentials through imdsclient, then sign a request with them.

``imdsclient.boto.install(session)`` swaps botocore's own ``iam-role`` credential provider for
imdsclient's: one token per token lifetime, the role name remembered (one GET per refresh instead
of botocore's PUT + two GETs), no proxies, and static stability when IMDS is down at refresh time.
Everything else about the session (other credential sources, clients) is unchanged.

The script signs an S3 URL locally (``generate_presigned_url`` sends nothing to AWS) and prints
which provider supplied the credentials, never the secrets themselves.

Needs ``pip install imdsclient[boto] boto3``. Run it on EC2 as is, or anywhere against the
simulator::

    python -m imdsclient serve &
    AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1338 python examples/boto_dropin.py
"""

from __future__ import annotations

import os
import sys
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.config import Config

from imdsclient.boto import install


def mask(value: str, keep: int = 4) -> str:
    """Show only the last ``keep`` characters: enough to tell two keys apart."""
    return "*" * max(len(value) - keep, 0) + value[-keep:]


def main() -> int:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    session = boto3.Session(region_name=region)
    # Reads the endpoint, timeout and attempts from the session, i.e. from
    # AWS_EC2_METADATA_SERVICE_ENDPOINT and ~/.aws/config, exactly as botocore would.
    provider = install(session)
    print(f"IMDS endpoint:    {provider.fetcher.client.config.base_url}")

    credentials = session.get_credentials()
    if credentials is None:
        print("no credentials: no instance profile here, and nothing else configured")
        return 1
    frozen = credentials.get_frozen_credentials()
    print(f"credentials from: {credentials.method} ({type(provider).__module__})")
    print(f"access key id:    {mask(frozen.access_key)}")

    s3 = session.client("s3", config=Config(signature_version="s3v4"))
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "example-bucket", "Key": "hello.txt"}, ExpiresIn=60
    )
    scope = parse_qs(urlsplit(url).query)["X-Amz-Credential"][0]
    signed_with = scope.split("/", 1)[0]
    print(f"signed URL uses:  {mask(signed_with)} (same key: {signed_with == frozen.access_key})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
