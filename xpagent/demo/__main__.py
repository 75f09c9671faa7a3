"""`python -m xpagent.demo [OPTIONS]`: the demo, with its options."""

import sys

from xpagent.demo import run_demo

raise SystemExit(run_demo(sys.argv[1:]))
