"""The lab itself: isolated from the main namespace, and IMDS reachable the way EC2 has it."""

from __future__ import annotations

import subprocess

from tests.network._lab import IMDS_IP, Lab, User

INSTANCE_ID = "i-1234567890abcdef0"


def _namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_lab_is_isolated(lab: Lab) -> None:
    """No lab interface in the main namespace, no default route in any lab namespace."""
    lab.check_safety()
    for ns in lab.created:
        assert ns.run(["ip", "route", "show", "default"], check=True).out.strip() == ""
    route = lab.instance.run(["ip", "route", "get", IMDS_IP], check=True).out
    assert "dev eth0" in route  # on the link, as on EC2
    assert " via " not in route
    route = lab.container.run(["ip", "route", "get", IMDS_IP], check=True).out
    assert "via 169.254.200.1" in route  # one forwarding hop, as behind Docker's bridge
    assert "Network is unreachable" in lab.void.run(["ip", "route", "get", IMDS_IP]).err


def test_default_endpoint_answers_in_instance_and_container(lab: Lab, user: User) -> None:
    """With no endpoint setting, the CLI reads IMDS from the instance and from the container."""
    with lab.serve() as imds:
        for ns in (lab.instance, lab.container):
            done = ns.cli("get", "instance-id", user=user)
            assert (done.code, done.out, done.err) == (0, f"{INSTANCE_ID}\n", "")
        assert imds.count("PUT") == 2  # one token per process, each a real IMDSv2 exchange


def test_python_api_and_boto_dropin_use_the_default_endpoint(lab: Lab, user: User) -> None:
    """The Python API and the boto drop-in work with the default endpoint, as root and not."""
    with lab.serve():
        answer = lab.instance.probe("get", {"path": "placement/region"}, user=user)
        assert answer["ok"]
        assert answer["value"]
        creds = lab.instance.probe("boto", {"calls": 2}, user=user)
        assert creds["ok"]
        assert creds["warnings"] == []
        assert "secret_key" in creds["calls"][0]["keys"]


def test_closing_removes_every_namespace_and_process() -> None:
    """A lab that is closed leaves no namespace and no process behind."""
    with Lab() as other:
        names = [ns.name for ns in other.created]
        with other.serve() as imds:
            pid = imds.process.pid
            assert all(name in _namespaces() for name in names)
        assert imds.process.poll() is not None
    listing = _namespaces()
    assert not [name for name in names if name in listing]
    assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0
