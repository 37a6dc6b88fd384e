"""Signed checkpoints: round trips, Go's published signed-note vectors (``tests/vectors/
signed-note.json``), and every way a checkpoint note can be damaged, with its ``reason``."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault.audit import checkpoint as cp
from vault.audit.checkpoint import Checkpoint
from vault.crypto import SigningKey
from vault.errors import IntegrityError, InvalidInput

VECTORS = json.loads(
    (Path(__file__).parents[2] / "vectors" / "signed-note.json").read_text(encoding="utf-8")
)

NAME = "vault.example/log"
KEY = SigningKey(bytes(range(32)))
PUBLIC = KEY.public_bytes()
ROOT = hashlib.sha256(b"root").digest()
CHECKPOINT = Checkpoint(NAME, 20852163, ROOT)
DASH = "\N{EM DASH} "
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _seed(skey: str) -> bytes:
    """The Ed25519 seed of a Go ``PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)>`` signer key."""
    raw = base64.b64decode(skey.split("+", 4)[4])
    assert raw[0] == cp.ED25519
    return raw[1:]


def _sig_line(text: bytes, name: str, key: SigningKey, *, kid: bytes | None = None) -> str:
    kid = cp.key_id(name, key.public_bytes()) if kid is None else kid
    return f"{DASH}{name} {base64.b64encode(kid + key.sign(text)).decode()}\n"


def _signed_raw(text: str, key: SigningKey = KEY, name: str = NAME) -> str:
    """A correctly signed note of any text, checkpoint or not."""
    return text + "\n" + _sig_line(text.encode(), name, key)


def _reason(note: str | bytes) -> str:
    with pytest.raises(IntegrityError) as info:
        cp.open_checkpoint(note, name=NAME, public=PUBLIC)
    return info.value.reason


# -- round trips -----------------------------------------------------------------------------------


def test_sign_and_open_round_trip() -> None:
    note = cp.sign(CHECKPOINT, NAME, KEY)
    root64 = base64.b64encode(ROOT).decode()
    assert note.startswith(f"{NAME}\n20852163\n{root64}\n\n{DASH}{NAME} ")
    assert note.endswith("\n")
    assert cp.open_checkpoint(note, name=NAME, public=PUBLIC) == CHECKPOINT
    assert cp.open_checkpoint(note.encode(), name=NAME, public=PUBLIC) == CHECKPOINT


def test_extensions_and_empty_tree_round_trip() -> None:
    empty = Checkpoint("origin", 0, hashlib.sha256(b"").digest(), ("ext one", "ext two"))
    assert empty.body().decode().splitlines()[1] == "0"
    assert cp.open_checkpoint(cp.sign(empty, NAME, KEY), name=NAME, public=PUBLIC) == empty


@settings(max_examples=60, deadline=None)
@given(
    origin=st.text(
        st.characters(codec="utf-8", min_codepoint=0x20, exclude_characters="\x7f"), min_size=1
    ),
    size=st.integers(min_value=0, max_value=(1 << 64) - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(st.text(st.characters(codec="utf-8", min_codepoint=0x20), min_size=1)),
)
def test_property_round_trip(origin: str, size: int, root: bytes, extensions: list[str]) -> None:
    checkpoint = Checkpoint(origin, size, root, tuple(extensions))
    note = cp.sign(checkpoint, NAME, KEY)
    assert cp.open_checkpoint(note, name=NAME, public=PUBLIC) == checkpoint


def test_vkey_round_trip() -> None:
    vkey = cp.encode_vkey(NAME, PUBLIC)
    name, kid_hex, _ = vkey.split("+", 2)
    assert (name, kid_hex) == (NAME, cp.key_id(NAME, PUBLIC).hex())
    assert cp.decode_vkey(vkey) == (NAME, PUBLIC)


def test_key_id_is_the_spec_hash() -> None:
    expected = hashlib.sha256(NAME.encode() + b"\n\x01" + PUBLIC).digest()[:4]
    assert cp.key_id(NAME, PUBLIC) == expected


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\tb", "a\u00a0b"])
def test_invalid_key_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="key name"):
        cp.key_id(name, PUBLIC)
    with pytest.raises(ValueError, match="key name"):
        cp.sign(CHECKPOINT, name, KEY)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": "", "size": 1, "root": ROOT},
        {"origin": "a\nb", "size": 1, "root": ROOT},
        {"origin": "a\x00", "size": 1, "root": ROOT},
        {"origin": "o", "size": -1, "root": ROOT},
        {"origin": "o", "size": 1 << 64, "root": ROOT},
        {"origin": "o", "size": 1, "root": ROOT[:31]},
        {"origin": "o", "size": 1, "root": ROOT, "extensions": ("",)},
    ],
)
def test_invalid_checkpoints_cannot_be_made(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"checkpoint lines|tree size|root hash"):
        Checkpoint(**kwargs)  # type: ignore[arg-type]


# -- Go's published vectors (golang/mod sumdb/note/note_test.go) -------------------------------


def test_vector_vkey() -> None:
    signer = VECTORS["signer"]
    public = SigningKey(_seed(signer["skey"])).public_bytes()
    assert cp.encode_vkey(signer["name"], public) == signer["vkey"]
    assert cp.decode_vkey(signer["vkey"]) == (signer["name"], public)
    cosigner = VECTORS["cosigner"]
    assert cp.encode_vkey(*cp.decode_vkey(cosigner["vkey"])) == cosigner["vkey"]


def test_vector_signature_byte_for_byte() -> None:
    signer = VECTORS["signer"]
    key = SigningKey(_seed(signer["skey"]))
    assert cp.sign_note(VECTORS["text"], signer["name"], key) == VECTORS["signed"]


@pytest.mark.parametrize("who", ["signer", "cosigner"])
def test_vector_opens_with_either_key(who: str) -> None:
    name, public = cp.decode_vkey(VECTORS[who]["vkey"])
    assert cp.open_note(VECTORS["cosigned"], name=name, public=public) == VECTORS["text"]


def test_vector_is_signed_but_not_a_checkpoint() -> None:
    name, public = cp.decode_vkey(VECTORS["signer"]["vkey"])
    with pytest.raises(IntegrityError) as info:
        cp.open_checkpoint(VECTORS["signed"], name=name, public=public)
    assert info.value.reason == "bad-checkpoint"


def test_vector_unknown_key_only_is_no_signature() -> None:
    name, public = cp.decode_vkey(VECTORS["cosigner"]["vkey"])
    with pytest.raises(IntegrityError) as info:
        cp.open_note(VECTORS["signed"], name=name, public=public)
    assert info.value.reason == "no-signature"


def _manglings(vkey: str) -> list[str]:
    """Go's TestNewVerifier: every proper substring and every single-byte increment."""
    raw = vkey.encode()
    subs = {raw[i:j] for i in range(len(raw) + 1) for j in range(i + 1, len(raw) + 1)}
    subs.discard(raw)
    bumped = {raw[:i] + bytes([raw[i] + 1]) + raw[i + 1 :] for i in range(len(raw))}
    return sorted(s.decode() for s in subs | bumped)


def test_vector_vkey_manglings_are_rejected() -> None:
    vkey = VECTORS["signer"]["vkey"]
    for mangled in _manglings(vkey):
        with pytest.raises(InvalidInput):
            cp.decode_vkey(mangled)


@pytest.mark.parametrize(
    "vkey",
    [
        # From Go's TestNewVerifier: wrong key length, and unknown algorithm, each with the key id
        # adjusted to match.
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW+",
        "",
    ],
)
def test_bad_vkeys_are_rejected(vkey: str) -> None:
    with pytest.raises(InvalidInput):
        cp.decode_vkey(vkey)


# -- tampering -------------------------------------------------------------------------------------


def _replace_line(note: str, index: int, new: str) -> str:
    lines = note.split("\n")
    lines[index] = new
    return "\n".join(lines)


def _signature_line_with(note: str, change: bytes) -> str:
    """The note with its (single) signature's decoded bytes XORed with ``change``."""
    body, _, line = note[:-1].rpartition("\n")
    name, encoded = line[len(DASH) :].split(" ")
    raw = bytearray(base64.b64decode(encoded))
    for i, b in enumerate(change):
        raw[i] ^= b
    return f"{body}\n{DASH}{name} {base64.b64encode(bytes(raw)).decode()}\n"


SIGNED = cp.sign(CHECKPOINT, NAME, KEY)
OTHER = SigningKey(bytes(range(1, 33)))
BODY = CHECKPOINT.body()


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        pytest.param(_replace_line(SIGNED, 1, "20852164"), "bad-signature", id="size"),
        pytest.param(
            _replace_line(SIGNED, 2, base64.b64encode(bytes(32)).decode()),
            "bad-signature",
            id="root",
        ),
        pytest.param(_replace_line(SIGNED, 0, "vault.example/other"), "bad-signature", id="origin"),
        pytest.param(
            _signature_line_with(SIGNED, bytes(4) + b"\x01"), "bad-signature", id="signature-byte"
        ),
        pytest.param(
            _signature_line_with(SIGNED, bytes(67) + b"\x80"), "bad-signature", id="signature-end"
        ),
        pytest.param(
            BODY.decode() + "\n" + _sig_line(BODY, NAME, OTHER), "no-signature", id="other-key"
        ),
        pytest.param(
            BODY.decode() + "\n" + _sig_line(BODY, NAME, OTHER, kid=cp.key_id(NAME, PUBLIC)),
            "bad-signature",
            id="other-key-claiming-our-id",
        ),
        pytest.param(_signature_line_with(SIGNED, b"\x01"), "no-signature", id="wrong-key-id"),
        pytest.param(
            SIGNED.replace(f"{DASH}{NAME} ", f"{DASH}vault.example/log2 "),
            "no-signature",
            id="wrong-name",
        ),
        pytest.param(BODY.decode() + "\n", "bad-note", id="no-signature-line"),
        pytest.param(BODY.decode(), "bad-note", id="no-blank-line"),
        pytest.param(SIGNED + "garbage", "bad-note", id="trailing-garbage"),
        pytest.param(SIGNED + "garbage\n", "bad-note", id="trailing-line"),
        pytest.param(SIGNED + "\n", "bad-note", id="trailing-newline"),
        pytest.param(SIGNED[:-1], "bad-note", id="no-final-newline"),
        pytest.param(SIGNED.replace(DASH, "- "), "bad-note", id="hyphen-not-em-dash"),
        pytest.param(SIGNED.replace(f"{DASH}{NAME} ", f"{DASH}{NAME}  "), "bad-note", id="space"),
        pytest.param(SIGNED[:-3] + "!\n", "bad-note", id="signature-not-base64"),
        pytest.param(SIGNED[:-2] + "\n", "bad-note", id="signature-bad-padding"),
        pytest.param(f"{BODY.decode()}\n{DASH}{NAME} AAAA\n", "bad-note", id="signature-short"),
        pytest.param("\x01" + SIGNED, "bad-note", id="control-character"),
        pytest.param(SIGNED.replace("\n", "\r\n"), "bad-note", id="crlf"),
        pytest.param(SIGNED.encode() + b"\xff", "bad-note", id="not-utf8"),
        pytest.param(SIGNED + _sig_line(BODY, "x", OTHER) * 100, "bad-note", id="100-signatures"),
        pytest.param("x" * (1 << 20) + SIGNED, "bad-note", id="over-1-MiB"),
        pytest.param(
            (" " * (1 << 20)).encode() + SIGNED.encode(), "bad-note", id="over-1-MiB-bytes"
        ),
    ],
)
def test_tampering(note: str | bytes, reason: str) -> None:
    assert _reason(note) == reason


def test_a_failing_duplicate_of_the_known_key_rejects() -> None:
    bad = _signature_line_with(SIGNED, bytes(10) + b"\x01")
    assert _reason(SIGNED + bad.rpartition("\n\n")[2]) == "bad-signature"


@pytest.mark.parametrize("position", ["before", "after"])
def test_an_unknown_extra_signature_is_ignored(position: str) -> None:
    extra = _sig_line(BODY, "witness.example/w1", OTHER)
    body, _, ours = SIGNED.rpartition("\n\n")
    lines = extra + ours if position == "before" else ours + extra
    assert cp.open_checkpoint(f"{body}\n\n{lines}", name=NAME, public=PUBLIC) == CHECKPOINT


def test_an_unknown_signature_that_does_not_verify_is_ignored() -> None:
    extra = f"{DASH}witness.example/w1 {base64.b64encode(bytes(68)).decode()}\n"
    assert cp.open_checkpoint(SIGNED + extra, name=NAME, public=PUBLIC) == CHECKPOINT


def test_many_signatures_up_to_the_limit_are_read() -> None:
    extras = "".join(_sig_line(BODY, f"w{i}", OTHER) for i in range(cp.MAX_SIGNATURES - 1))
    assert cp.open_checkpoint(SIGNED + extras, name=NAME, public=PUBLIC) == CHECKPOINT


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("origin\n5\n", "two lines"),
        ("\n5\n{root}\n", "empty origin"),
        ("origin\n05\n{root}\n", "leading zero"),
        ("origin\n00\n{root}\n", "double zero"),
        ("origin\n+5\n{root}\n", "sign"),
        ("origin\n-1\n{root}\n", "negative"),
        ("origin\n5 \n{root}\n", "trailing space"),
        ("origin\n1_000\n{root}\n", "underscore"),
        ("origin\n\N{ARABIC-INDIC DIGIT FIVE}\n{root}\n", "non-ASCII digit"),
        ("origin\n0x5\n{root}\n", "hex"),
        ("origin\n18446744073709551616\n{root}\n", "over 2**64-1"),
        ("origin\n5\n{root}!\n", "root not base64"),
        ("origin\n5\n{short}\n", "root 31 bytes"),
        ("origin\n5\n{long}\n", "root 33 bytes"),
        ("origin\n5\n{noncanonical}\n", "root with non-zero padding bits"),
        ("origin\n5\n{root}\n\next\n", "empty extension line"),
    ],
)
def test_signed_but_malformed_checkpoints(body: str, why: str) -> None:
    root64 = base64.b64encode(ROOT).decode()
    text = body.format(
        root=root64,
        short=base64.b64encode(ROOT[:31]).decode(),
        long=base64.b64encode(ROOT + b"\x00").decode(),
        noncanonical=root64[:-2] + ALPHABET[ALPHABET.index(root64[-2]) ^ 1] + "=",
    )
    assert _reason(_signed_raw(text)) == "bad-checkpoint", why


def test_the_largest_tree_size_opens() -> None:
    largest = Checkpoint(NAME, (1 << 64) - 1, ROOT)
    assert cp.open_checkpoint(cp.sign(largest, NAME, KEY), name=NAME, public=PUBLIC) == largest


def test_wrong_public_key_length_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        cp.open_checkpoint(SIGNED, name=NAME, public=PUBLIC[:31])
