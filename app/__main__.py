"""`python -m app`: start the Killah editor."""

import sys

from app.main import main

sys.exit(main())
