from xpagent.cli import main

raise SystemExit(main())
