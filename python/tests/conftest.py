"""pytest configuration for the package's tests: a watchdog, so that a hang
fails the run instead of stalling make check."""
import faulthandler
import sys

faulthandler.dump_traceback_later(240, exit=True, file=sys.stderr)
