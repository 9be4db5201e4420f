"""What ``imdsclient COMMAND --help`` says beyond the options: a description and examples.

Together with the exit code list of ``imdsclient --help`` this stands in for a man page;
docs/cli.md says the same at more length. Commands without an entry show their one-line help.
"""

from __future__ import annotations

__all__ = ["EXAMPLES", "HELP"]

#: The examples of ``imdsclient --help`` (before its exit code list).
EXAMPLES = """\
examples:
  imdsclient get instance-id placement/region          # two lines, one token
  eval "$(imdsclient get --shell instance-id placement/region)"
  imdsclient wait --timeout 120 && imdsclient identity --json
  imdsclient --simulate dump placement                 # anywhere: an embedded simulator
  imdsclient doctor                                    # what is wrong with IMDS access here?
  imdsclient COMMAND --help                            # each command, with examples"""

#: name → (description, examples epilog).
HELP: dict[str, tuple[str, str]] = {
    "get": (
        """\
Print the value at each PATH, in the order given, each followed by a newline, with one
client and one IMDSv2 token for all of them. Relative paths are under /latest/meta-data/;
absolute paths (/latest/dynamic/..., /latest/user-data) are used as given.

With several PATHs a value that contains a newline is refused (exit 2): use --json (one
object, each PATH as typed -> its value; bytes that are not UTF-8 as "base64:...") or
--shell (NAME='value' lines for eval; placement/region -> PLACEMENT_REGION). A single value
is written exactly as served, so binary user-data survives. If any PATH fails, nothing is
printed and the exit code is that failure's.""",
        """\
examples:
  imdsclient get instance-id
  imdsclient get instance-id placement/region          # exactly two lines
  eval "$(imdsclient get --shell --prefix EC2_ instance-id placement/region)"
  imdsclient get --json instance-id /latest/dynamic/instance-identity/document""",
    ),
    "ls": (
        """\
List the folder at PATH (default: /latest/meta-data/), one entry per line, as IMDS lists
it; folders end in /. A PATH that is a value is an error (exit 2) that says to use get.""",
        """\
examples:
  imdsclient ls
  imdsclient ls placement
  imdsclient ls /latest/
  imdsclient ls --json network/interfaces/macs""",
    ),
    "dump": (
        """\
Print the tree under PATH (default: /latest/meta-data/) as indented JSON: folders become
objects (names without /), values strings. Credential documents are masked as
"**********" (the role name stays); use credential-process for the credentials.""",
        """\
examples:
  imdsclient dump placement
  imdsclient dump > metadata.json""",
    ),
    "identity": (
        """\
Print the instance identity document as aligned "name  value" lines (snake_case names), or
with --json exactly as IMDS serves it (its own camelCase keys). With FIELDs, print only those
values, the way get prints values (one per line, --json or --shell); a FIELD may be given in
either spelling (account_id or accountId). --shell without FIELDs prints every field.""",
        """\
examples:
  imdsclient identity
  imdsclient identity region account_id
  eval "$(imdsclient identity --shell region accountId)"   # REGION=... ACCOUNT_ID=...""",
    ),
    "iam-info": (
        """\
Print the attached instance profile (ARN, id, last update; never credentials) as aligned
lines, or with --json exactly as IMDS serves it. FIELDs and --shell work as for identity.
No instance profile: exit 15.""",
        """\
examples:
  imdsclient iam-info
  imdsclient iam-info instance_profile_arn""",
    ),
    "tags": (
        """\
Print the instance tags as key<TAB>value lines, or a JSON object; nothing (or {}) when
instance tags are not allowed in metadata. With KEYs, print only those tags' values, the way
get prints values; a missing KEY is exit 15. --shell without KEYs prints every tag.""",
        """\
examples:
  imdsclient tags
  imdsclient tags Name
  eval "$(imdsclient tags --shell --prefix TAG_)"   # TAG_NAME=...""",
    ),
    "user-data": (
        """\
Write the user-data to stdout byte for byte (binary safe, no newline added). None: exit 15.""",
        """\
examples:
  imdsclient user-data > user-data.bin
  imdsclient user-data | gunzip""",
    ),
    "credential-process": (
        """\
Print the role's temporary credentials on one line in the AWS credential_process format
(Version 1). The only command that prints secrets.""",
        """\
examples:
  imdsclient credential-process --role my-role
  # in ~/.aws/config, for the AWS CLI and SDKs:
  [profile from-imds]
  credential_process = imdsclient credential-process""",
    ),
    "events": (
        """\
Print the current Spot interruption notice, rebalance recommendation and scheduled events,
one line each (JSON Lines with --json); nothing when there are none. --watch keeps polling
and prints each event when it first appears or changes.""",
        """\
examples:
  imdsclient events
  imdsclient events --watch --json""",
    ),
    "doctor": (
        """\
Diagnose IMDS access step by step: configuration, proxy variables, local firewall rules,
reachability, the token PUT, GETs with and without a token, and the throttling counter.
Each check prints [ok], [problem] or [skipped], its evidence and the exact fix. Exit 1 when
any check found a problem. Reading firewall rules needs root.""",
        """\
examples:
  imdsclient doctor
  sudo imdsclient doctor --json""",
    ),
    "serve": (
        """\
Run the IMDS simulator in the foreground until Ctrl-C (see docs/testing.md); the first line
printed holds its URL. Point clients at it with AWS_EC2_METADATA_SERVICE_ENDPOINT.""",
        """\
examples:
  imdsclient serve --port 0
  imdsclient serve --http-tokens required""",
    ),
    "wait": (
        """\
Wait until IMDS answers, for boot scripts that may start before the network is up: exit 0
as soon as a probe (GET instance-id) gets an answer. Failures that waiting can cure (no
connection yet, a timeout, throttling, a 5xx) are retried every 0.5 s; after --timeout
seconds in all, the exit code and one-line message are the last failure's. Any other answer
(403 disabled, 401, AWS_EC2_METADATA_DISABLED) ends the wait at once with its own code.
--timeout here is the total time; the time per attempt is the global --timeout, given
before the command.""",
        """\
examples:
  imdsclient wait && imdsclient get instance-id
  imdsclient --timeout 0.5 wait --timeout 120 || exit $?""",
    ),
    "completion": (
        """\
Print a completion script for bash or zsh, generated from this parser by shtab (install it
with pip install 'imdsclient[completion]').""",
        """\
examples:
  imdsclient completion bash > /etc/bash_completion.d/imdsclient
  imdsclient completion zsh > ~/.zfunc/_imdsclient   # with fpath+=(~/.zfunc)""",
    ),
}
