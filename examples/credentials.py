"""Read the instance profile's temporary credentials, and print them without leaking secrets.

``iam_credentials()`` finds the role name from the ``iam/security-credentials/`` listing once
per client, then costs one GET per call; credentials are never cached, so every call returns
what IMDS serves now (IMDS rotates them well before they expire).

The secret access key and the session token are ``pydantic.SecretStr``: ``str()``, ``repr()``
and logs show ``**********``. Call ``.get_secret_value()`` only where the value is really used,
such as when signing a request.

Run it on EC2, or anywhere against ``python -m imdsclient serve`` with
``AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1338``.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import imdsclient


def mask(value: str, keep: int = 4) -> str:
    """Show only the last ``keep`` characters: enough to tell two keys apart."""
    return "*" * max(len(value) - keep, 0) + value[-keep:]


def main() -> int:
    try:
        with imdsclient.IMDSClient() as imds:
            if imds.iam_info() is None:
                print("no IAM instance profile is attached to this instance")
                return 0
            credentials = imds.iam_credentials()
    except imdsclient.IMDSError as error:  # CredentialsError included
        print(f"error: {error}", file=sys.stderr)
        return 1

    left = credentials.expiration - datetime.now(timezone.utc)
    print(f"role:              {credentials.role_name}")
    print(f"access key id:     {mask(credentials.access_key_id)}")
    print(f"secret access key: {credentials.secret_access_key}")  # SecretStr prints **********
    print(f"session token:     {credentials.token}")
    print(
        f"expires:           {credentials.expiration.isoformat()} (in {left.total_seconds():.0f} s)"
    )
    # Where the secret is really needed, ask for it explicitly:
    secret = credentials.secret_access_key.get_secret_value()
    print(f"secret length:     {len(secret)} characters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
