"""`xpagent demo`: a self-driving local cluster with simulated xray and cloudflared.

Three real agents (`xpagent run` processes) on loopback watch simulated xray and
cloudflared servers that a scripted scenario keeps breaking and healing. See
`docs/demo.md`. `python -m xpagent.demo --help` lists the options.
"""

from ._cluster import add_demo_arguments, run_demo
from ._prefill import synthetic_runtime, write_synthetic_state

__all__ = ["add_demo_arguments", "run_demo", "synthetic_runtime", "write_synthetic_state"]
