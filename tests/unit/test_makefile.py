"""`make test` is what CI runs: it must fail whenever pytest does, "no tests" included."""
import os
import subprocess

from webapp.settings import REPO_ROOT


def test_make_test_fails_when_the_selection_matches_no_test():
    # Given a selection that matches nothing (a mistyped -k)
    env = dict(os.environ, MAKEFLAGS="")
    # When CI's command runs it
    result = subprocess.run(
        ["make", "--no-print-directory", "test",
         "PYTEST_ARGS=-q -p no:cacheprovider -k no_test_is_named_like_this_xyzzy"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    # Then it fails, and says why
    assert result.returncode != 0, result.stdout + result.stderr
    assert "collected no tests" in result.stderr
