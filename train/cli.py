"""How every entry point ends: a user's mistake is one line and exit 2, a signal 128+N.

attnlab raises ValueError for what the user can fix (config, data, workdir); its message
names the problem and the fix, so the traceback is noise. ATTNLAB_TRACEBACK=1 shows it.
"""
from __future__ import annotations

import functools
import logging as std_logging
import os
import sys
from typing import Callable, Optional

from absl import app
from absl import logging

from train import graceful_stop

USER_ERROR_EXIT = 2


def run(main: Callable[[list[str]], Optional[int]]) -> None:
  """absl's app.run(main) with attnlab's error and signal conventions."""
  logging.get_absl_handler().addFilter(_orbax_thread_errors)
  app.run(_guarded(main))


def _orbax_thread_errors(record: std_logging.LogRecord) -> bool:
  """Drop the tracebacks Orbax's save threads (and their asyncio tasks) log: the main
  thread re-raises the error (a full disk becomes one line). --verbosity=1 keeps them."""
  from_orbax = "/orbax/" in record.pathname or record.name == "asyncio"
  return not (from_orbax and logging.get_verbosity() < logging.INFO)


def _guarded(main: Callable[[list[str]], Optional[int]]) -> Callable[[list[str]], Optional[int]]:
  @functools.wraps(main)
  def guarded(argv: list[str]) -> Optional[int]:
    try:
      return main(argv)
    except graceful_stop.Stopped as e:
      print(f"attnlab: {e}", file=sys.stderr, flush=True)
      sys.exit(e.exit_code)
    except ValueError as e:
      if os.environ.get("ATTNLAB_TRACEBACK"):
        raise
      print(f"error: {e}", file=sys.stderr, flush=True)
      sys.exit(USER_ERROR_EXIT)
  return guarded
