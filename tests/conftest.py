import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from hypothesis import settings  # noqa: E402

# the fuzz tests run a few seconds each in `make test`; `make fuzz` runs them much longer
settings.register_profile("fuzz", max_examples=5000, deadline=None)
