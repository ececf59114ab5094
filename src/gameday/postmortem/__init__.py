"""Postmortems: a draft rendered from a drill's run folder, and a linter for the result.

Stages, one file each: ``timeline`` (read ``timeline.jsonl``), ``facts`` (what the run
folder knows: times, impact, the detecting alert), ``render`` (fill the template, write the
draft without clobbering), ``lint`` (check a postmortem). ``markers`` holds the one prompt
marker that the template writes and the linter looks for.
"""
