"""One exit-status policy for every ``edge-genre`` command.

====  ==========================================================================
0     success (also: stopped by SIGINT/SIGTERM, or its reader closed stdout)
1     partial failure: some inputs could not be processed, the others were
      (``classify`` of several files, ``export-firmware --verify`` that fails)
2     usage or input error: a bad option, a missing or unreadable file, a
      model or output path that cannot be used; running again will not help
3     the audio device is missing, busy or vanished (worth retrying later)
4     an output could not be written while running (disk full, ...)
70    internal error: a bug, reported in one line (``EDGE_GENRE_DEBUG=1`` shows the traceback)
130   interrupted by Ctrl-C before the end (``listen`` ends cleanly with 0)
====  ==========================================================================

systemd tells a typo in ``EDGE_GENRE_ARGS`` (2: ``RestartPreventExitStatus=2``)
from an unplugged microphone (3: restarted).
"""

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_DEVICE = 3
EXIT_OUTPUT = 4
EXIT_INTERNAL = 70  # EX_SOFTWARE
EXIT_INTERRUPTED = 130

HELP = ("Exit status: 0 success; 1 partial failure (some files failed); 2 usage or input error; "
        "3 audio device missing or gone; 4 output could not be written (disk full); 70 internal error; "
        "130 interrupted.")
