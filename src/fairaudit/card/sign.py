"""Ed25519 signatures of cards (extra ``sign``: ``pip install 'fairaudit[sign]'``).

The signature is embedded in card.json as its ``signature`` block. What is signed is the
card's *canonical* JSON: the whole card, with the signature block but without its
``value``, serialised with sorted keys, no whitespace, UTF-8 and no NaN. Whitespace and
key order of the file therefore do not matter; every number, word and hash does, and so
do the signing date and the public key named in the block.

A signature shows the card is unchanged since the holder of the key signed it. It shows
*who* signed only when the verifier trusts the key: ``fairaudit verify --public-key``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from fairaudit.errors import InputError, MissingExtraError

__all__ = [
    "CANONICALIZATION",
    "PASSPHRASE_ENV",
    "canonical_bytes",
    "fingerprint",
    "generate_key",
    "load_private_key",
    "load_public_key",
    "sign_card",
    "sign_card_model",
    "verify_signature",
]

CANONICALIZATION = "fairaudit-card-c14n/1"
PASSPHRASE_ENV = "FAIRAUDIT_SIGN_KEY_PASSPHRASE"


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:
        raise MissingExtraError("sign", "cryptography") from exc
    return ed25519


def canonical_bytes(card: dict[str, Any]) -> bytes:
    """The bytes a signature covers: ``card`` without ``signature.value``, canonical JSON.

    Parameters
    ----------
    card
        The card as parsed JSON (a dict), signed or not.
    """
    payload = dict(card)
    block = payload.get("signature")
    if isinstance(block, dict):
        payload["signature"] = {k: v for k, v in block.items() if k != "value"}
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _raw_public(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    raw: bytes = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw


def fingerprint(public_raw: bytes) -> str:
    """``sha256:`` and the hex sha256 of a raw 32-byte Ed25519 public key."""
    return "sha256:" + hashlib.sha256(public_raw).hexdigest()


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read the {what}: {exc.strerror or exc}",
            file=path,
            fix=f"give the path of an existing {what}",
        ) from None


def load_private_key(path: str | Path) -> Any:
    """Read an Ed25519 private key (PEM, PKCS#8, as ``fairaudit keygen`` or
    ``openssl genpkey -algorithm ed25519`` write it).

    An encrypted key is opened with the passphrase in ``FAIRAUDIT_SIGN_KEY_PASSPHRASE``.

    Raises
    ------
    InputError
        When the file is unreadable, is not a PEM private key, or is not Ed25519.
    MissingExtraError
        Without the ``sign`` extra.
    """
    ed25519 = _crypto()
    from cryptography.hazmat.primitives import serialization

    p = Path(path)
    data = _read(p, "signing key")
    secret = os.environ.get(PASSPHRASE_ENV)
    try:
        key = serialization.load_pem_private_key(
            data, password=secret.encode("utf-8") if secret else None
        )
    except TypeError:
        raise InputError(
            "the signing key is encrypted and no passphrase was given",
            file=p,
            fix=f"set {PASSPHRASE_ENV} to its passphrase",
        ) from None
    except ValueError:
        raise InputError(
            "not a PEM private key (or the passphrase is wrong)",
            file=p,
            fix="create one with `fairaudit keygen KEY.pem` "
            "(or `openssl genpkey -algorithm ed25519 -out KEY.pem`)",
        ) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise InputError(
            f"the key is {type(key).__name__.removesuffix('PrivateKey').removeprefix('_')}, "
            "not Ed25519",
            file=p,
            fix="create an Ed25519 key with `fairaudit keygen KEY.pem`",
        )
    return key


def load_public_key(path: str | Path) -> Any:
    """Read a trusted Ed25519 public key: PEM (``KEY.pub.pem``), or the base64 raw key as
    a card's ``signature.public_key`` shows it.

    Raises
    ------
    InputError
        When the file is unreadable or holds no Ed25519 public key.
    """
    ed25519 = _crypto()
    from cryptography.hazmat.primitives import serialization

    p = Path(path)
    data = _read(p, "public key")
    fix = "give the KEY.pub.pem that `fairaudit keygen` wrote beside the signing key"
    if b"-----BEGIN" in data:
        if b"PRIVATE KEY" in data:
            raise InputError(
                "this is a private key; verification takes the public key", file=p, fix=fix
            )
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError:
            raise InputError("not a PEM public key", file=p, fix=fix) from None
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise InputError("the public key is not Ed25519", file=p, fix=fix)
        return key
    try:
        raw = base64.b64decode(data.strip(), validate=True)
        if len(raw) != 32:
            raise ValueError(len(raw))
    except ValueError:
        raise InputError(
            "neither a PEM public key nor a base64 raw Ed25519 key (32 bytes)", file=p, fix=fix
        ) from None
    return ed25519.Ed25519PublicKey.from_public_bytes(raw)


def generate_key() -> tuple[bytes, bytes, str]:
    """A new Ed25519 key: (private PEM, public PEM, fingerprint)."""
    ed25519 = _crypto()
    from cryptography.hazmat.primitives import serialization

    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public, fingerprint(_raw_public(key.public_key()))


def sign_card(card: dict[str, Any], key: Any, *, signed_at: str | None = None) -> dict[str, Any]:
    """Return ``card`` (parsed card JSON) with a ``signature`` block made with ``key``.

    Parameters
    ----------
    card
        The card as JSON data (``Card.model_dump(mode="json", by_alias=True)``); an
        existing signature is replaced.
    key
        An Ed25519 private key (:func:`load_private_key`).
    signed_at
        ISO 8601 UTC time; default: now.
    """
    raw = _raw_public(key.public_key())
    block = {
        "algorithm": "ed25519",
        "canonicalization": CANONICALIZATION,
        "public_key": base64.b64encode(raw).decode("ascii"),
        "key_fingerprint": fingerprint(raw),
        "signed_at": signed_at
        or dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }
    out = {**card, "signature": block}
    block["value"] = base64.b64encode(key.sign(canonical_bytes(out))).decode("ascii")
    return out


def sign_card_model(card: Any, key: Any) -> Any:
    """A :class:`~fairaudit.card.model.Card` signed with ``key`` (see :func:`sign_card`)."""
    from fairaudit.card.model import Card

    return Card.model_validate(sign_card(card.model_dump(mode="json", by_alias=True), key))


def verify_signature(card: dict[str, Any], trusted: Any | None = None) -> tuple[bool, str]:
    """Check a card's embedded signature; with ``trusted``, also that it is that key's.

    Returns
    -------
    (ok, detail)
        ``ok`` False with the reason when the block is malformed, the key is not the
        trusted one, or the signature does not match the card.
    """
    ed25519 = _crypto()
    from cryptography.exceptions import InvalidSignature

    block = card.get("signature")
    if not isinstance(block, dict):
        return False, "the card is not signed"
    if block.get("algorithm") != "ed25519" or block.get("canonicalization") != CANONICALIZATION:
        return False, (
            f"unknown signature scheme {block.get('algorithm')!r} / "
            f"{block.get('canonicalization')!r}"
        )
    try:
        raw = base64.b64decode(str(block["public_key"]), validate=True)
        value = base64.b64decode(str(block["value"]), validate=True)
        embedded = ed25519.Ed25519PublicKey.from_public_bytes(raw)
    except (KeyError, ValueError):
        return False, "the signature block is malformed (public_key or value)"
    if block.get("key_fingerprint") != fingerprint(raw):
        return False, "the key fingerprint does not match the public key in the card"
    if trusted is not None and _raw_public(trusted) != raw:
        want = fingerprint(_raw_public(trusted))
        return False, f"signed by {fingerprint(raw)}, not by the trusted key {want}"
    try:
        embedded.verify(value, canonical_bytes(card))
    except InvalidSignature:
        return False, "the signature does not match the card's content: it changed after signing"
    return True, f"valid Ed25519 signature by {fingerprint(raw)}, signed {block.get('signed_at')}"
