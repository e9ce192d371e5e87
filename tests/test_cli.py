"""The `tollgate` CLI against a running stack: keys locally, runs and jobs over the gateway."""

import json
import subprocess

from conftest import ADMIN_KEY


def tollgate(stack, *args, check=True):
    command = ["tollgate", "--url", stack.gateway_url, "--key", ADMIN_KEY, *args]
    return subprocess.run(command, env=stack.env, capture_output=True, text=True, check=check)


def test_cdr_sync_wait_prints_the_finished_job(stack):
    """`tollgate cdr-sync --wait` shows progress on stderr and the final report on stdout."""
    result = tollgate(stack, "cdr-sync", "--run-key", "cli-1", "--wait")
    report = json.loads(result.stdout)
    assert report["status"] == "finished"
    assert report["result"]["run_key"] == "cdr-sync:cli-1"
    assert json.loads(tollgate(stack, "job", "cdr-sync:cli-1").stdout)["status"] == "finished"


def test_keys_list_shows_prefix_not_key(stack):
    """Listing keys shows each key's prefix and scopes, never the key."""
    key = stack.run("tollgate keys create --scope whmcs --name whmcs-module").stdout.strip()
    listing = stack.run("tollgate keys list").stdout
    assert "whmcs-module" in listing and key[:12] in listing
    assert key not in listing


def test_api_errors_are_one_readable_line(stack):
    """An API error exits 1 with the envelope's code and message, not a traceback."""
    result = tollgate(stack, "job", "no-such-job", check=False)
    assert result.returncode == 1
    assert "not_found" in result.stderr and "Traceback" not in result.stderr
