"""The vote path's identity step before (a4c86ca: client_ip, network_of, three hashes) and
after (identify + hashes), in one process: interleaved rounds, medians per call.

Needs the old code unpacked beside it:
    mkdir -p OLD && git archive a4c86ca service | tar -x -C OLD
Run: .venv/bin/python bench/identity_path.py OLD
"""

from __future__ import annotations

import importlib
import ipaddress
import statistics
import sys
import timeit
from pathlib import Path
from types import ModuleType
from typing import Any

ROUNDS, CALLS = 15, 20_000
PROXIES = (ipaddress.ip_network("127.0.0.1/32"),)
RAW = [(b"host", b"x"), (b"x-forwarded-for", b"203.0.113.7"), (b"cookie", b"pv=reader-cookie-1")]


def _load(root: str, *names: str) -> list[ModuleType]:
    """Import `names` from the `service` package under `root`, forgetting any other."""
    for name in [k for k in sys.modules if k == "service" or k.startswith("service.")]:
        del sys.modules[name]
    sys.path.insert(0, root)
    try:
        return [importlib.import_module(n) for n in names]
    finally:
        sys.path.remove(root)


def main(old_root: str) -> None:
    (old,) = _load(old_root, "service.voting.identity")
    keys, request, http = _load(
        str(Path(__file__).resolve().parents[1]),
        "service.identity.keys",
        "service.identity.request",
        "service.core.http",
    )
    old_hasher, new_hasher = old.Hasher(b"s" * 32), keys.Hasher(b"s" * 32)

    def before() -> Any:
        headers = dict(RAW)
        voter = old.voter_cookie(http.cookie(headers.get(b"cookie"), old.VOTER_COOKIE))
        ip = old.client_ip(RAW, "127.0.0.1", PROXIES)
        net = old.network_of(ip)
        return (
            old_hasher("p", "voter", voter),
            old_hasher("p", "ip", net if net.endswith("/64") else ip),
            old_hasher("p", "net", net),
        )

    def after() -> Any:
        who = request.identify(dict(RAW), RAW, "127.0.0.1", "http", PROXIES)
        return who.hashes(new_hasher, "p", who.reader)

    assert tuple(before()) == (lambda h: (h.voter, h.address, h.network))(after())
    rounds: dict[str, list[float]] = {"a4c86ca": [], "wt-identity": []}
    for _ in range(ROUNDS):
        for name, fn in (("a4c86ca", before), ("wt-identity", after)):
            rounds[name].append(min(timeit.repeat(fn, number=CALLS, repeat=3)) / CALLS)
    med = {k: statistics.median(v) * 1e6 for k, v in rounds.items()}
    print(
        {k: f"{v:.2f} us" for k, v in med.items()},
        "new/old",
        f"{med['wt-identity'] / med['a4c86ca']:.3f}",
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "old")
