"""imdsclient: a resilient, typed client for the EC2 Instance Metadata Service."""

from __future__ import annotations
