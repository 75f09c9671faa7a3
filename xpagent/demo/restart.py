"""`python -m xpagent.demo.restart URL`: the restart command of the demo's agents.

The demo sets `XP_XRAY_RESTART_COMMAND` and `XP_CLOUDFLARED_RESTART_COMMAND` to
this module with the control server's restart URL of the node and component.
It POSTs to that URL and exits 0 when the answer is 2xx; otherwise it prints the
server's reason on stderr (the agent puts its last line into the
`restart_failed` event) and exits 1, the way `systemctl restart` reports a
failed unit.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import httpx

__all__ = ["main"]

#: Below the agents' restart timeout in the demo, so the command reports by itself.
TIMEOUT_SECS = 8.0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m xpagent.demo.restart URL", file=sys.stderr)
        return 2
    url = args[0]
    try:
        # The control server is on loopback: never through a proxy.
        response = httpx.post(url, timeout=TIMEOUT_SECS, trust_env=False)
    except httpx.HTTPError as exc:
        reason = str(exc) or exc.__class__.__name__
        print(f"cannot reach the demo's control server at {url}: {reason}", file=sys.stderr)
        return 1
    text = response.text.strip()
    if response.is_success:
        if text:
            print(text)
        return 0
    print(text or f"HTTP {response.status_code} from {url}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
