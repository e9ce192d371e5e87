"""docs/configuration.md lists exactly the variables the services' settings classes read."""

import subprocess
import sys

from stack import ROOT


def test_configuration_reference_matches_settings_classes():
    """Regenerating the reference from the code changes nothing."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "config_reference.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
