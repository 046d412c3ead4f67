"""Build ``households.csv`` (the audit's input) from the published validation file.

Deterministic: the same source file always gives the same bytes. Run from anywhere::

    python examples/kenya_sha_pmt/prepare.py

The model audited is the proxy-means test (PMT) reconstructed by Lighthouse Reports for
Kenya's Social Health Authority: a household is *predicted poor* (and so eligible for a
premium subsidy) when its PMT-predicted monthly consumption per adult equivalent is below
the poverty line of its area; it is *actually poor* when its surveyed consumption is.

Poverty lines. The shipped files do not state them. The lines below were found by matching
the authors' published confusion matrices (``published_confusion_matrices.csv``) exactly:
any urban line in (7,191.1, 7,202.5] and any rural line in (3,947.59, 3,947.96] reproduce
them; we use 7,193 KES (urban) and 3,947.9 KES (rural). A test checks the match.
"""

from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "source_kchs_validation_actual_vs_predicted.csv"
OUTPUT = HERE / "households.csv"

#: Monthly consumption per adult equivalent, KES (see the module docstring).
POVERTY_LINE_KES = {"Urban": 7193.0, "Rural": 3947.9}


def build(source: Path = SOURCE) -> list[dict[str, object]]:
    """One row per household, with truth and PMT decision, in source order."""
    rows: list[dict[str, object]] = []
    with source.open(newline="", encoding="utf-8") as fh:
        for i, rec in enumerate(csv.DictReader(fh), start=1):
            area = rec["Area Type"].strip()
            actual = float(rec["Actual Consumption (KES)"])
            predicted = float(rec["Predicted Consumption (KES)"])
            line = POVERTY_LINE_KES[area]
            rows.append(
                {
                    "household_id": f"KCHS-{i:05d}",
                    "area": area,
                    "actual_consumption_kes": round(actual, 2),
                    "predicted_consumption_kes": round(predicted, 2),
                    "poverty_line_kes": line,
                    "actually_poor": int(actual < line),
                    "predicted_poor": int(predicted < line),
                }
            )
    return rows


def main() -> None:
    rows = build()
    tmp = OUTPUT.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(OUTPUT)
    print(f"wrote {len(rows)} households to {OUTPUT}")


if __name__ == "__main__":
    main()
