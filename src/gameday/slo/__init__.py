"""SLOs as code: OpenSLO v1 specs -> model -> validation -> Prometheus rules -> files.

Stages, one module each, like Sloth: ``spec`` (read YAML documents), ``validate`` (check
them and build the ``model``), ``windows`` (burn-rate window catalogs, as data),
``rules`` (recording and alerting rules), ``promtests`` (promtool unit tests),
``storage`` (write slos/_gen/), ``sloth`` (import a Sloth prometheus/v1 spec).
Naming conventions live in ``names``.
"""
