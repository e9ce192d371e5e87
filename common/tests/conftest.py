"""common's tests import job functions from `jobs_fixtures`, so the worker must find this folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
