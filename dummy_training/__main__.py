"""``python -m dummy_training``: the step's command line."""

from dummy_training.cli import main

raise SystemExit(main())
