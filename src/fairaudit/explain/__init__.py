"""Explain: SHAP on a bounded stratified sample, global and per-group importance, gap
decomposition, proxy detection, reason codes and charts.

shap and matplotlib are imported only inside the functions that need them (the ``shap``
extra); importing this package is instant.
"""

from fairaudit.explain.proxies import association, proxy_scores
from fairaudit.explain.reasons import (
    REASON_COLUMNS,
    ReasonsWriter,
    frequencies_from_counts,
    reason_codes,
    reason_counts,
    reason_frequencies,
    rules_reason_codes,
    write_reasons_parquet,
)
from fairaudit.explain.sampling import (
    SamplePlan,
    bottom_k,
    row_keys,
    sample_plan,
)
from fairaudit.explain.shap_explain import (
    DEFAULT_BACKGROUND_ROWS,
    DEFAULT_BUDGET,
    DEFAULT_SAMPLE_SIZE,
    Explainer,
    Explanation,
    GapDecomposition,
    Sample,
    explain,
    explanation_summary,
    gap_decomposition,
    global_importance,
    group_importance,
    make_explainer,
    stratified_sample,
)

__all__ = [
    "DEFAULT_BACKGROUND_ROWS",
    "DEFAULT_BUDGET",
    "DEFAULT_SAMPLE_SIZE",
    "REASON_COLUMNS",
    "Explainer",
    "Explanation",
    "GapDecomposition",
    "ReasonsWriter",
    "Sample",
    "SamplePlan",
    "association",
    "bottom_k",
    "explain",
    "explanation_summary",
    "frequencies_from_counts",
    "gap_decomposition",
    "global_importance",
    "group_importance",
    "make_explainer",
    "proxy_scores",
    "reason_codes",
    "reason_counts",
    "reason_frequencies",
    "row_keys",
    "rules_reason_codes",
    "sample_plan",
    "stratified_sample",
    "write_reasons_parquet",
]
