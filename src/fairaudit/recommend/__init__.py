"""Redress and mitigation: what to do about a failed audit, computed on the audit's data.

* **Redress** (:func:`redress`) — for every group a harm gate failed for: how many people
  were wrongly excluded (assistive) or wrongly flagged (punitive), scaled to the population
  by the weights when there are weights; how many of them are *beyond* the reference
  group's rate, with the Newcombe interval of the difference scaled to people; the value at
  stake (the spec's benefit amount); which rule or reason decided their cases; a
  prioritised re-review list (row level: only in ``restricted/rereview/``); and the
  appeal channels the spec names.
* **Mitigation** (:func:`simulate`) — each option is applied to the model and the whole
  audit is re-run on the same data (same counting, statistics and gates), so its reported
  effect is exactly what the audit would report for the changed model: a single global
  threshold (score models), rules changes (drop an outreach step, read a missing record as
  "manual review", a parameter), and data fixes (every registry field the spec pairs with
  its true value, corrected), and with ``recommend.retrain`` the estimator retrained with
  fairlearn's mitigators or reweighing (:mod:`fairaudit.recommend.retrain`). The option that
  passes every gate at least cost is recommended; when none passes, the result says so.
"""

from fairaudit.recommend.mitigation import Candidate, candidates, simulate
from fairaudit.recommend.redress import RereviewRecorder, redress

__all__ = ["Candidate", "RereviewRecorder", "candidates", "redress", "simulate"]
