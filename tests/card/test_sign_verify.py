"""Signed cards and ``fairaudit verify``: what passes, what fails and says why, what is bad
input (exit 2)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import yaml

from fairaudit.card import build_card, render_json
from fairaudit.card.sign import (
    canonical_bytes,
    generate_key,
    load_private_key,
    sign_card,
    verify_signature,
)
from fairaudit.results import AuditResult
from tests.conftest import base_spec, make_frame


@pytest.fixture
def audit(tmp_path: Path, cli) -> Path:
    """A signed audit in tmp_path/o (key: tmp_path/k.pem, k.pub.pem)."""
    make_frame().to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(base_spec()), encoding="utf-8")
    res = cli("keygen", "k.pem")
    assert res.exit_code == 0 and "fingerprint: sha256:" in res.stdout
    res = cli("check", "audit.yaml", "--out", "o", "--sign-key", "k.pem")
    assert res.exit_code == 1  # the base spec's gate fails: a result, not an error
    return tmp_path / "o"


def _flip(path: Path, out: Path) -> None:
    doc = json.loads(path.read_text())
    doc["groups"][0]["rows"][0]["tp"] += 1
    out.write_text(json.dumps(doc, indent=1), encoding="utf-8")


def _failed_line(stdout: str) -> str:
    (line,) = [ln for ln in stdout.splitlines() if "FAILED (" in ln]
    return line


def test_keygen_writes_a_private_and_a_public_key(tmp_path: Path, cli, audit: Path) -> None:
    key, pub = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in key.read_bytes() and b"PUBLIC KEY" in pub.read_bytes()
    again = cli("keygen", "k.pem")
    assert again.exit_code == 2 and "--force" in again.stderr
    assert cli("keygen", "k.pem", "--force").exit_code == 0
    assert key.read_bytes() != b"" and "k.pem" in str(key)


def test_signed_card_verifies(tmp_path: Path, cli, audit: Path) -> None:
    doc = json.loads((audit / "card.json").read_text())
    assert doc["signature"]["algorithm"] == "ed25519"
    assert doc["signature"]["key_fingerprint"].startswith("sha256:")
    assert doc["signature"]["signed_at"].endswith("Z")
    # the HTML and Markdown made from the signed card name the key
    fp = doc["signature"]["key_fingerprint"]
    assert fp in (audit / "card.html").read_text() and fp in (audit / "card.md").read_text()
    res = cli("verify", "o/card.json", "--public-key", "k.pub.pem", "--spec", "audit.yaml")
    assert res.exit_code == 0, res.stdout
    assert "o/card.json: verified" in res.stdout
    for check in ("signature", "signer", "results sha256", "results content", "data sha256"):
        (row,) = [ln for ln in res.stdout.splitlines() if f"│ {check} " in ln]
        assert "PASS" in row, row
    # whitespace and key order are not part of what is signed
    doc = json.loads((audit / "card.json").read_text())
    (audit / "compact.json").write_text(json.dumps(doc, sort_keys=True), encoding="utf-8")
    assert cli("verify", "o/compact.json").exit_code == 0


def test_one_changed_number_fails_the_signature(tmp_path: Path, cli, audit: Path) -> None:
    _flip(audit / "card.json", audit / "card.json")
    res = cli("verify", "o/card.json")
    assert res.exit_code == 1
    failed = _failed_line(res.stdout)
    assert "signature" in failed and "results content" in failed
    assert "  signature: the signature does not match the card's content" in res.stdout
    assert "  results content: differs from a re-render of results.json in: groups" in res.stdout


def test_a_changed_unsigned_card_fails_against_its_results(tmp_path: Path, cli) -> None:
    make_frame().to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(base_spec()), encoding="utf-8")
    assert cli("check", "audit.yaml", "--out", "o").exit_code == 1
    res = cli("verify", "o/card.json")
    assert res.exit_code == 0
    assert "NOT SIGNED" in res.stdout and "o/card.json: verified" in res.stdout
    # a signature is required when a trusted key is given
    cli("keygen", "k.pem")
    res = cli("verify", "o/card.json", "--public-key", "k.pub.pem")
    assert res.exit_code == 1 and "signature" in _failed_line(res.stdout)
    # unsigned, a changed number is still caught by the results it was made from
    _flip(tmp_path / "o" / "card.json", tmp_path / "changed.json")
    res = cli("verify", "changed.json", "--results", "o/results.json")
    assert res.exit_code == 1
    assert "results content" in _failed_line(res.stdout)
    # and a changed results.json by its hash
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    results["summary"].append("edited")
    (tmp_path / "o" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    res = cli("verify", "o/card.json")
    assert res.exit_code == 1 and "results sha256" in _failed_line(res.stdout)


def test_wrong_public_key_fails(tmp_path: Path, cli, audit: Path) -> None:
    assert cli("keygen", "other.pem").exit_code == 0
    res = cli("verify", "o/card.json", "--public-key", "other.pub.pem")
    assert res.exit_code == 1
    assert "signer" in _failed_line(res.stdout)
    assert "  signer: signed by sha256:" in res.stdout and "not by the trusted key" in res.stdout


def test_rehashes_the_data_and_spec(tmp_path: Path, cli, audit: Path) -> None:
    assert cli("verify", "o/card.json", "--data", "data.csv").exit_code == 0
    make_frame(seed=1).to_csv(tmp_path / "other.csv", index=False)
    res = cli("verify", "o/card.json", "--data", "other.csv")
    assert res.exit_code == 1 and "data sha256" in _failed_line(res.stdout)
    (tmp_path / "audit.yaml").write_text(
        (tmp_path / "audit.yaml").read_text() + "# edited\n", encoding="utf-8"
    )
    res = cli("verify", "o/card.json", "--spec", "audit.yaml")
    assert res.exit_code == 1 and "spec sha256" in _failed_line(res.stdout)


def test_a_card_publishing_smaller_cells_than_the_audit_fails(tmp_path: Path, cli) -> None:
    make_frame().to_csv(tmp_path / "data.csv", index=False)
    spec = base_spec(card={"min_cell": 50})
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    assert cli("check", "audit.yaml", "--out", "o").exit_code == 1
    raw = (tmp_path / "o" / "results.json").read_text()
    looser = build_card(AuditResult.from_json(raw), min_cell=10)
    (tmp_path / "o" / "loose.json").write_text(render_json(looser), encoding="utf-8")
    res = cli("verify", "o/loose.json")
    assert res.exit_code == 1 and "disclosure" in _failed_line(res.stdout)


@pytest.mark.parametrize(
    ("option", "content", "message"),
    [
        ("--public-key", "not a key\n", "neither a PEM public key nor a base64 raw Ed25519 key"),
        (
            "--public-key",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "not a PEM public key",
        ),
        (
            "--sign-key",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "not a PEM private key",
        ),
    ],
)
def test_malformed_key_file_exits_2(
    tmp_path: Path, cli, audit: Path, option: str, content: str, message: str
) -> None:
    (tmp_path / "bad.pem").write_text(content)
    if option == "--public-key":
        res = cli("verify", "o/card.json", option, "bad.pem")
    else:
        res = cli("check", "audit.yaml", "--out", "fresh", option, "bad.pem")
        assert not (tmp_path / "fresh").exists()  # refused before the audit ran
    assert res.exit_code == 2
    assert res.stderr.startswith("error: bad.pem: ") and message in res.stderr
    assert "fix: " in res.stderr


def test_private_key_given_as_public_key_exits_2(tmp_path: Path, cli, audit: Path) -> None:
    res = cli("verify", "o/card.json", "--public-key", "k.pem")
    assert res.exit_code == 2 and "this is a private key" in res.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schema": "fairaudit.results/1"}', "not a fairaudit card"),
        ("{not json", "is not JSON"),
        (None, "cannot read the card"),
    ],
)
def test_not_a_card_exits_2(tmp_path: Path, cli, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "card.json").write_text(content)
    res = cli("verify", "card.json")
    assert res.exit_code == 2 and message in res.stderr


def test_sign_key_only_signs_json_cards(tmp_path: Path, cli, audit: Path) -> None:
    res = cli("card", "o/results.json", "--sign-key", "k.pem")
    assert res.exit_code == 2 and "--format json" in res.stderr
    res = cli(
        "card", "o/results.json", "--format", "json", "--sign-key", "k.pem", "--out", "s.json"
    )
    assert res.exit_code == 0
    res = cli("verify", "s.json", "--results", "o/results.json", "--public-key", "k.pub.pem")
    assert res.exit_code == 0, res.stdout


def test_signature_covers_the_signing_block(tmp_path: Path) -> None:
    private, _, fp = generate_key()
    (tmp_path / "k.pem").write_bytes(private)
    key = load_private_key(tmp_path / "k.pem")
    signed = sign_card({"schema": "fairaudit.card/1", "n": 1.5, "a": [1, 2]}, key)
    assert signed["signature"]["key_fingerprint"] == fp
    assert verify_signature(signed) == (True, verify_signature(signed)[1])
    assert canonical_bytes(signed) == canonical_bytes(dict(reversed(list(signed.items()))))
    for field, value in (("signed_at", "2000-01-01T00:00:00Z"), ("canonicalization", "x")):
        forged = {**signed, "signature": {**signed["signature"], field: value}}
        assert verify_signature(forged)[0] is False
    assert verify_signature({**signed, "n": 1.6})[0] is False


def test_encrypted_key_needs_its_passphrase(tmp_path: Path, monkeypatch) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from fairaudit.card.sign import PASSPHRASE_ENV
    from fairaudit.errors import InputError

    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret"),
    )
    (tmp_path / "enc.pem").write_bytes(pem)
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    with pytest.raises(InputError, match="encrypted and no passphrase"):
        load_private_key(tmp_path / "enc.pem")
    monkeypatch.setenv(PASSPHRASE_ENV, "wrong")
    with pytest.raises(InputError, match="passphrase is wrong"):
        load_private_key(tmp_path / "enc.pem")
    monkeypatch.setenv(PASSPHRASE_ENV, "s3cret")
    key = load_private_key(tmp_path / "enc.pem")
    assert verify_signature(sign_card({"schema": "fairaudit.card/1"}, key))[0]
