"""``fairaudit verify``: is this card the one its audit made, unchanged?

Each check passes, fails, or is skipped (with the reason: nothing to check it against).
Bad input — an unreadable file, a file that is not a card or not results, a malformed
key — raises :class:`~fairaudit.errors.InputError` instead: that is not a verdict.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fairaudit.card.model import CARD_SCHEMA_ID, Card, build_card
from fairaudit.errors import InputError

__all__ = ["Verification", "VerifyCheck", "verify_card"]

Outcome = Literal["pass", "fail", "skipped", "not signed"]

# Card sections made from the results alone; the others also use the spec.
_FROM_SPEC = ("gates", "model_details", "data", "limitations")


@dataclass(frozen=True)
class VerifyCheck:
    """One check: its name, outcome and what was found."""

    name: str
    outcome: Outcome
    detail: str


@dataclass
class Verification:
    """Every check run on a card."""

    card: Path
    checks: list[VerifyCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no check failed (skipped and unsigned are not failures)."""
        return all(c.outcome != "fail" for c in self.checks)

    @property
    def failed(self) -> list[VerifyCheck]:
        return [c for c in self.checks if c.outcome == "fail"]

    def add(self, name: str, outcome: Outcome, detail: str) -> None:
        self.checks.append(VerifyCheck(name, outcome, detail))


def _read_json(path: Path, what: str, fix: str) -> tuple[bytes, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read the {what}: {exc.strerror or exc}", file=path, fix=fix
        ) from None
    try:
        return raw, json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"the {what} is not JSON: {exc}", file=path, fix=fix) from None


def _sha(path: Path, what: str) -> str:
    from fairaudit.models import file_sha256

    if not path.exists():
        raise InputError(f"the {what} does not exist", file=path, fix=f"give the {what}'s path")
    return file_sha256(path)


def _hash_check(v: Verification, name: str, recorded: str | None, path: Path | None) -> None:
    if path is None:
        v.add(name, "skipped", "not given")
    elif recorded is None:
        v.add(name, "skipped", "the card records no hash for it")
    else:
        actual = _sha(path, name.removesuffix(" sha256"))
        if actual == recorded:
            v.add(name, "pass", f"{path} matches")
        else:
            v.add(name, "fail", f"{path} has sha256 {actual[:16]}…, the card {recorded[:16]}…")


def verify_card(
    card_path: str | Path,
    *,
    results: str | Path | None = None,
    public_key: str | Path | None = None,
    spec: str | Path | None = None,
    data: str | Path | None = None,
    model: str | Path | None = None,
) -> Verification:
    """Check a card.json: its schema, signature and signer, and its hashes.

    Parameters
    ----------
    card_path
        The card.json to check.
    results
        The results.json it was made from; default: ``results.json`` beside the card, if
        there is one. Its sha256 must be the card's, and re-rendering it must give the
        card's numbers.
    public_key
        The signer's trusted public key (PEM or base64 raw): the card must be signed by it.
    spec, data, model
        Files to re-hash against the card's provenance. With ``spec``, ``data`` and a local
        ``model`` path default to the ones the spec names.

    Raises
    ------
    InputError
        When a file cannot be read or is not what it should be (not a card, not results,
        not a key).
    """
    from pydantic import ValidationError

    cpath = Path(card_path)
    v = Verification(cpath)
    fix = "give a card.json written by fairaudit check or fairaudit card --format json"
    _, doc = _read_json(cpath, "card", fix)
    if not isinstance(doc, dict) or doc.get("schema") != CARD_SCHEMA_ID:
        got = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise InputError(
            f"not a fairaudit card (schema {got!r}, not {CARD_SCHEMA_ID!r})", file=cpath, fix=fix
        )
    card: Card | None
    try:
        card = Card.model_validate(doc)
        v.add("card schema", "pass", CARD_SCHEMA_ID)
    except ValidationError as exc:
        card = None
        err = exc.errors()[0]
        where = ".".join(map(str, err["loc"]))
        v.add("card schema", "fail", f"{where}: {err['msg']} ({exc.error_count()} problems)")

    # --- signature and signer
    from fairaudit.card import sign

    trusted = sign.load_public_key(public_key) if public_key is not None else None
    block = doc.get("signature")
    if block is None:
        if trusted is not None:
            v.add(
                "signature",
                "fail",
                "not signed, but a public key was given: a signature is required",
            )
        else:
            v.add(
                "signature",
                "not signed",
                "the card carries no signature: only its hashes are checked",
            )
    else:
        ok, detail = sign.verify_signature(doc)
        v.add("signature", "pass" if ok else "fail", detail)
        if trusted is None:
            v.add("signer", "skipped", "no --public-key given: who signed is not checked")
        elif ok:
            want = sign.fingerprint(sign._raw_public(trusted))
            if block.get("key_fingerprint") == want:
                v.add("signer", "pass", f"signed by the trusted key {want}")
            else:
                v.add(
                    "signer",
                    "fail",
                    f"signed by {block.get('key_fingerprint')}, not by the trusted key {want}",
                )
        else:
            v.add("signer", "skipped", "the signature is not valid")

    # --- the results it was made from
    found = doc.get("provenance")
    prov: dict[str, Any] = found if isinstance(found, dict) else {}
    rpath = Path(results) if results is not None else cpath.with_name("results.json")
    if results is None and not rpath.is_file():
        v.add("results sha256", "skipped", "no results.json given or beside the card")
        v.add("results content", "skipped", "no results.json given or beside the card")
    else:
        _results_checks(v, rpath, prov, doc, card, spec)

    # --- spec, data and model files
    spec_obj = None
    if spec is not None:
        from fairaudit.spec import load_spec

        spec_obj = load_spec(spec)
    _hash_check(v, "spec sha256", prov.get("spec_sha256"), Path(spec) if spec else None)
    if data is None and spec_obj is not None:
        data = spec_obj.base_dir / spec_obj.data.path
    _hash_check(v, "data sha256", prov.get("data_sha256"), Path(data) if data else None)
    if model is None and spec_obj is not None:
        mpath = (spec_obj.model.model_extra or {}).get("path")
        if isinstance(mpath, str) and ":/" not in mpath:
            model = spec_obj.base_dir / mpath
    _hash_check(v, "model sha256", prov.get("model_sha256"), Path(model) if model else None)
    return v


def _results_checks(
    v: Verification,
    rpath: Path,
    prov: dict[str, Any],
    doc: dict[str, Any],
    card: Card | None,
    spec: str | Path | None,
) -> None:
    from pydantic import ValidationError

    from fairaudit.results import AuditResult

    fix = "give the results.json written by fairaudit check"
    raw, _ = _read_json(rpath, "results", fix)
    try:
        result = AuditResult.from_json(raw.decode("utf-8"))
    except (ValidationError, ValueError) as exc:
        raise InputError(
            f"not a fairaudit results file: {str(exc).splitlines()[0]}", file=rpath, fix=fix
        ) from None
    digest = hashlib.sha256(raw).hexdigest()
    recorded = prov.get("results_sha256")
    if recorded == digest:
        v.add("results sha256", "pass", f"{rpath} matches")
    else:
        v.add(
            "results sha256",
            "fail",
            f"{rpath} has sha256 {digest[:16]}…, the card {str(recorded)[:16]}…",
        )
    if card is None:
        v.add("results content", "skipped", "the card does not validate")
        return
    if result.min_cell is not None and card.min_cell < result.min_cell:
        v.add(
            "disclosure",
            "fail",
            f"the card shows counts from {card.min_cell}, below the audit's min_cell "
            f"{result.min_cell}",
        )
    else:
        v.add("disclosure", "pass", f"counts below {card.min_cell} are suppressed")
    from fairaudit.spec import load_spec

    spec_obj = load_spec(spec) if spec is not None else None
    fresh = build_card(
        result,
        spec_obj,
        min_cell=card.min_cell,
        results_sha256=card.provenance.results_sha256,
        date=card.provenance.date,
    ).model_dump(mode="json", by_alias=True)
    skip = {"signature", *(() if spec_obj is not None else _FROM_SPEC)}
    differ = [k for k in fresh if k not in skip and fresh[k] != doc.get(k)]
    scope = "every section matches" if spec_obj is not None else "the numbers match"
    if differ:
        v.add(
            "results content",
            "fail",
            f"differs from a re-render of {rpath.name} in: {', '.join(differ)}",
        )
    else:
        v.add("results content", "pass", f"{scope} a re-render of {rpath.name}")
