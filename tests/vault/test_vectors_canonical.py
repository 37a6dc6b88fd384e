"""Canonical JSON (docs/format.md §7): ``canonical.json``'s vectors, the rule against the JSON
library it replaced (records sealed before it must be written byte for byte the same), and the
writers that must use it."""

from __future__ import annotations

import json
import math
import random
import struct
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import World
from tests.vectors import gen_records
from vault import canonical, crypto
from vault.backup.manifest import Manifest
from vault.redaction.model import Category, Kind, Rect
from vault.services.redaction_records import Proposal, SealedRedaction

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "canonical.json").read_text("utf-8")
)


def _ids(group: str) -> list[Any]:
    return [pytest.param(v, id=v["id"]) for v in VECTORS[group]]


@pytest.mark.parametrize("vector", _ids("strings"))
def test_string_vector(vector: dict[str, Any]) -> None:
    text = "".join(map(chr, vector["code_points"]))
    assert canonical.dumps(text).decode("ascii") == vector["json"]
    assert json.loads(vector["json"]) == text
    # §7 by hand: printable ASCII but quote and backslash as is, everything else escaped.
    assert all(0x20 <= ord(c) <= 0x7E for c in vector["json"])


@pytest.mark.parametrize("vector", _ids("numbers"))
def test_number_vector(vector: dict[str, Any]) -> None:
    if "float_hex" in vector:
        value: float | int = float.fromhex(vector["float_hex"])
        assert math.copysign(1, json.loads(vector["json"])) == math.copysign(1, value)
    else:
        value = vector["integer"]
    assert canonical.dumps(value).decode() == vector["json"]
    assert json.loads(vector["json"]) == value


@pytest.mark.parametrize("vector", _ids("objects"))
def test_object_vector(vector: dict[str, Any]) -> None:
    assert canonical.dumps(vector["value"]).decode() == vector["json"]


def reference_float(value: float) -> str:
    """§7's number rule, written from the document: shortest round-trip digits (which Python's
    repr gives), fixed notation for a point position from -3 to 16, exponent notation else."""
    digits, point = _shortest(value)
    sign = "-" if math.copysign(1, value) < 0 else ""
    if value == 0:
        return sign + "0.0"
    if -3 <= point <= 16:
        if point <= 0:
            return sign + "0." + "0" * -point + digits
        if point >= len(digits):
            return sign + digits + "0" * (point - len(digits)) + ".0"
        return sign + digits[:point] + "." + digits[point:]
    exp = point - 1
    mantissa = digits[0] + ("." + digits[1:] if digits[1:] else "")
    return f"{sign}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"


def _shortest(value: float) -> tuple[str, int]:
    """The fewest significant digits that read back as ``value`` (searched, not taken from
    repr), and the decimal point position."""
    if value == 0:
        return "0", 1
    for precision in range(1, 18):
        text = f"{abs(value):.{precision - 1}e}"
        if float(text) == abs(value):
            mantissa, exponent = text.split("e")
            return mantissa.replace(".", "").rstrip("0") or "0", int(exponent) + 1
    raise AssertionError("a double needs at most 17 digits")


def _random_floats(count: int) -> list[float]:
    rng = random.Random(20261207)  # noqa: S311 - reproducible test inputs, not secrets
    out = [0.1, 1e-7, 1e22, -0.0, 2.0, 1e16, 1e15, 1e-4, 1e-5, 5e-324, 65535.0]
    while len(out) < count:
        bits = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(bits):
            out.append(bits)
        out.append(rng.uniform(0, 65535))
        out.append(round(rng.uniform(0, 65535), rng.randint(0, 6)))
    return out


def test_floats_follow_the_documented_rule() -> None:
    for value in _random_floats(20000):
        assert canonical.format_float(value) == reference_float(value), value.hex()


def test_the_rule_is_what_the_old_writer_wrote() -> None:
    # Records sealed before vault.canonical existed were json.dumps(sort_keys, separators):
    # the same bytes, so nothing already stored changes meaning or digest.
    rng = random.Random(7)  # noqa: S311 - reproducible test inputs, not secrets
    alphabet = [chr(c) for c in [*range(0, 0x250), 0x2028, 0xD800, 0xDFFF, 0xFFFF, 0x1F4CE]]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        value = {
            text: [rng.choice(_random_floats(40)), rng.randint(-(2**70), 2**70), None, True],
            "k" + text: {"x": text, "y": False},
        }
        assert canonical.dumps(value) == json.dumps(
            value, sort_keys=True, separators=(",", ":")
        ).encode("ascii")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, b"bytes", {1: "key"}, object()])
def test_what_canonical_json_cannot_hold(bad: object) -> None:
    with pytest.raises(ValueError, match="canonical JSON"):
        canonical.dumps(bad)


def test_a_region_is_written_with_float_coordinates_however_given() -> None:
    as_ints = Proposal(Kind.REGION, Category.OTHER, page=1, rect=Rect(0, 0, 2, 3))
    as_floats = Proposal(Kind.REGION, Category.OTHER, page=1, rect=Rect(0.0, 0.0, 2.0, 3.0))
    one = SealedRedaction(as_ints, "00" * 32, "").to_bytes()
    other = SealedRedaction(as_floats, "00" * 32, "").to_bytes()
    assert one == other
    assert b'"rect":[0.0,0.0,2.0,3.0]' in one


def test_the_backup_manifest_line_is_canonical_json() -> None:
    # The manifest is signed, so its JSON line is pinned as well (docs/format.md §7).
    manifest = Manifest(
        origin="vault.example.org/audit",
        created="2026-12-07T06:00:00Z",
        schema="0012",
        checkpoint="vault.example.org/audit\n1\nAAAA\n\n— x y\n",
        index_sha256="00" * 32,
        index_size=10,
        members=2,
        documents=1,
        log_key_included=False,
        shredded=("é",),
    )
    _label, line, end = manifest.text().split("\n")
    assert end == ""
    assert line.encode() == canonical.dumps(json.loads(line))


def test_the_source_names_writer_is_the_documented_one(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Source names are not canonical JSON but ``json.dumps`` with its defaults (§7): what the
    service seals is exactly the vector generator's rule."""
    sealed: dict[str, bytes] = {}
    real = crypto.seal_record

    def spy(data_key: bytes, plaintext: bytes, **kwargs: Any) -> bytes:
        sealed[kwargs["label"]] = plaintext
        return real(data_key, plaintext, **kwargs)

    monkeypatch.setattr(crypto, "seal_record", spy)
    names = ["Łucja Żeleńska", "Lucja Zelenska", "“the archivist”"]
    world.vault.sources.create(world.journalist, world.case_id, "notes", names)
    assert sealed["source-names"] == gen_records.source_names_bytes(names)
    assert sealed["source-names"].startswith(b'["\\u0141ucja \\u017bele\\u0144ska", "Lucja')
