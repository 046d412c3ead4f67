"""How the additive counts of an audit are produced.

- :mod:`fairaudit.engines.local`: this process reads the file batch by batch and counts it
  (:class:`~fairaudit.engines.local.Counter`).
- :mod:`fairaudit.engines.spark`: Apache Spark reads the data where it lives; executors run
  the same :class:`~fairaudit.engines.local.Counter` on their partitions and the driver
  adds the partial counters (extra ``spark``; imported lazily).

Everything downstream of the counts — statistics, gates, cards, tracking — is one code path
whatever the engine (:mod:`fairaudit.audit`).
"""

ENGINES = ("local", "spark")

__all__ = ["ENGINES"]
