"""Entry point for ``python -m amistore_operator``."""

import amistore_operator.cli

raise SystemExit(amistore_operator.cli.main())
