"""Click options shared by the runtime commands (``classify``, ``listen``)."""

from __future__ import annotations

import click

music_threshold_option = click.option(
    "--music-threshold", type=click.FloatRange(0.0, 1.0), default=None, metavar="P",
    help='Report "not_music" when the music detector\'s score (0-1, the mean over the clip or the smoothing '
         "windows) is below P. Default: the threshold stored in the model (0.3 or less for the shipped ones); 0 turns it off.")
