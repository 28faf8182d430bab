"""Shared helpers of the Python tests: the circuits binary, the exporters run in-process, checks."""

import contextlib
import importlib
import io
import json
import os
import subprocess
import sys

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS_DIR = os.path.join(SOURCE_DIR, "scripts")
SKIP = 77  # ctest's SKIP_RETURN_CODE for these tests

_failures = []


def require_modules(*names):
    """Exits with status 77 (ctest: skipped) when a module the test needs is missing; under CI
    (CI=true), where scripts/install_deps.sh installs every module, a missing one is a failure."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            if os.environ.get("CI") == "true":
                print(f"error: the Python module '{name}' is not installed (CI=true)")
                sys.exit(1)
            print(f"skipped: the Python module '{name}' is not installed")
            sys.exit(SKIP)


def circuits_binary():
    if len(sys.argv) < 2 or not os.path.exists(sys.argv[1]):
        print("usage: TEST.py PATH/TO/circuits", file=sys.stderr)
        sys.exit(2)
    return sys.argv[1]


def run_circuits(*args):
    """(status, stdout, stderr) of the circuits binary."""
    r = subprocess.run([circuits_binary(), *map(str, args)], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def circuits_ok(*args):
    status, out, err = run_circuits(*args)
    if status != 0:
        raise AssertionError(f"circuits {' '.join(map(str, args))} failed ({status}): {err}")
    return out


def circuits_json(*args):
    return json.loads(circuits_ok(*args))


def script(name):
    """The module scripts/NAME.py, imported (its main(argv) runs the command line in-process)."""
    if SCRIPTS_DIR not in sys.path:
        sys.path.insert(0, SCRIPTS_DIR)
    return importlib.import_module(name)


def run_script(name, *argv):
    """(status, stdout, stderr) of scripts/NAME.py's main(argv), in-process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = script(name).main([str(a) for a in argv])
        except SystemExit as e:  # argparse usage errors
            status = e.code
    return status, out.getvalue(), err.getvalue()


def run_script_process(name, *argv):
    """(status, stdout, stderr) of /usr/bin/python3 scripts/NAME.py ARGV... in a fresh process."""
    r = subprocess.run([sys.executable, os.path.join(SCRIPTS_DIR, name + ".py"), *map(str, argv)],
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def check(condition, message):
    """Records a failure (and prints it) without stopping the test."""
    if not condition:
        _failures.append(message)
        print(f"FAIL: {message}")


def expect_error(name, argv, *parts):
    """Runs scripts/NAME.py in-process and checks exit status 1 and a message with every part."""
    status, _, err = run_script(name, *argv)
    check(status == 1, f"{name} {argv}: status {status}, expected 1 ({err.strip()})")
    check(err.startswith(f"{name}: error: "), f"{name} {argv}: message {err!r}")
    for part in parts:
        check(part in err, f"{name} {argv}: message {err.strip()!r} lacks {part!r}")
    return err


def finish():
    if _failures:
        print(f"{len(_failures)} check(s) failed")
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)
