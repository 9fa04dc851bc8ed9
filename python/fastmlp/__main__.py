"""`python -m fastmlp ...` is the `fastmlp` command."""

from .cli import main

raise SystemExit(main())
