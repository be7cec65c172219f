"""`python -m optimizer` is the same as the `batchopt` console script."""

from optimizer.cli.main import main

raise SystemExit(main())
