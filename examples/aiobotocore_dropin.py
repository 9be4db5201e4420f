"""Let aiobotocore get its instance-role credentials through imdsclient, then sign a request.

``imdsclient.aiobotocore.install(session)`` swaps aiobotocore's own ``iam-role`` credential
provider for imdsclient's, built on ``AsyncIMDSClient``: one token per token lifetime, the role
name remembered (one GET per refresh instead of a PUT + two GETs, each on a new HTTP session),
no proxies, and static stability when IMDS is down or serves expired credentials. s3fs and
fsspec run on aiobotocore sessions, so the same call works for them.

The script signs an S3 URL locally (``generate_presigned_url`` sends nothing to AWS) and prints
which provider supplied the credentials, never the secrets themselves.

Needs ``pip install imdsclient[aiobotocore]``. Run it on EC2 as is, or anywhere against the
simulator::

    python -m imdsclient serve &
    AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1338 python examples/aiobotocore_dropin.py
"""

from __future__ import annotations

import asyncio
import os
import sys
from urllib.parse import parse_qs, urlsplit

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from imdsclient.aiobotocore import install


def mask(value: str, keep: int = 4) -> str:
    """Show only the last ``keep`` characters: enough to tell two keys apart."""
    return "*" * max(len(value) - keep, 0) + value[-keep:]


async def main() -> int:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    session = get_session()
    # Reads the endpoint, timeout and attempts from the session, as aiobotocore would.
    provider = install(session)
    try:
        print(f"IMDS endpoint:    {provider.fetcher.client.config.base_url}")
        credentials = await session.get_credentials()
        if credentials is None:
            print("no credentials: no instance profile here, and nothing else configured")
            return 1
        frozen = await credentials.get_frozen_credentials()
        print(f"credentials from: {credentials.method} ({type(provider).__module__})")
        print(f"access key id:    {mask(frozen.access_key)}")
        config = AioConfig(signature_version="s3v4")
        async with session.create_client("s3", region_name=region, config=config) as s3:
            url = await s3.generate_presigned_url(
                "get_object", Params={"Bucket": "example-bucket", "Key": "hello.txt"}
            )
        signed_with = parse_qs(urlsplit(url).query)["X-Amz-Credential"][0].split("/", 1)[0]
        print(
            f"signed URL uses:  {mask(signed_with)} (same key: {signed_with == frozen.access_key})"
        )
        return 0
    finally:
        await provider.fetcher.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
