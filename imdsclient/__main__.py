from __future__ import annotations

from imdsclient._cli import run

run()
