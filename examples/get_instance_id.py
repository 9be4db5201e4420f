"""Print this instance's id with the synchronous client.

Settings come from the environment and ``~/.aws/config``, as for the AWS CLI. On EC2 this reads
the real IMDS. Anywhere else, start the simulator and point the client at it::

    python -m imdsclient serve &        # listens on http://127.0.0.1:1338
    AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1338 python examples/get_instance_id.py

Any failure is an ``imdsclient.IMDSError`` whose message ends with the fix; it is printed to
stderr and the script exits with status 1.
"""

from __future__ import annotations

import sys

import imdsclient


def main() -> int:
    try:
        with imdsclient.IMDSClient() as imds:
            print(imds.get("instance-id"))
    except imdsclient.IMDSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
