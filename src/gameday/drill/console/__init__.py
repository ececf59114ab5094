"""The game-day web console: a page served by the drill's incident API under /console.

    console_for(drill)     the routes for a running drill (the controller wires them)
    serve_debrief(run)     the console of a finished run, opening on the debrief

docs/console.md says what each view shows.
"""

from __future__ import annotations

from gameday.drill.console.debrief import debrief_reply, serve_debrief
from gameday.drill.console.routes import Console
from gameday.drill.console.snapshot import MetricsFeed

__all__ = ["Console", "console_for", "serve_debrief"]


def console_for(drill) -> Console:
    """The console of ``drill`` (gameday.drill.controller.Drill): its run folder, its API
    (asked with each caller's own token), its metrics from the drill's query API; over
    once the drill tears down. Its metrics feed runs until ``console.feed.stop()``."""

    def api(request):
        return drill.server.listener.app.handle(request)

    def finished() -> bool:
        return drill.phase == "teardown" or drill.times.get("ended") is not None

    feed = MetricsFeed(lambda: drill.api).start()
    return Console(lambda: drill.run_path, api, feed, finished, debrief=debrief_reply)
