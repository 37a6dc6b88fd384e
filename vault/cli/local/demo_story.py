"""The review ``vault demo`` plays, over HTTP against its own server: an administrator opens a
case, a journalist records a source and uploads a testimony and a programme, an editor reads
the testimony and its access history, two editors redact the source from the programme and
export it, and two holders of recovery shares give the journalist her access back.

The people get random passphrases that pass the vault's policy. Every name, place and event in
the material (``vault.cli.local.demo_material``) is invented. The HTTP client is imported inside the
functions that use it, so that loading the CLI does not load it.
"""

from __future__ import annotations

import contextlib
import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from vault.cli.local.demo_material import (
    AGENDA,
    ATTENDEE,
    ATTENDEE_PHONE,
    IDENTITY_NOTES,
    TESTIMONY,
    agenda_pdf,
)
from vault.errors import InvalidInput, VaultError

if TYPE_CHECKING:
    from vault.cli.client import Client
    from vault.instance import Vault

__all__ = ["CASE", "Cast", "Person", "new_cast", "new_passphrase", "recover", "review"]

CASE = "grey-heron"  # case names are stored in the clear: a code name, as in real use
_PASSPHRASE_WORDS = 6  # from the 1024 SLIP-39 words: 60 bits


@dataclass(frozen=True)
class Person:
    """One of the story's people (the passphrase is kept out of the repr)."""

    username: str
    role: str
    passphrase: str = field(repr=False)


_ACTIONS = {
    "document.upload": "uploaded it",
    "document.metadata.read": "opened its details",
    "document.content.read": "read its content",
    "document.delete": "deleted it",
    "document.export": "exported it redacted",
    "redaction.suggest": "asked for suggestions",
    "redaction.propose": "proposed a redaction",
    "redaction.approve": "approved a redaction",
    "redaction.list": "listed its redactions",
}


def new_passphrase() -> str:
    """Random words that pass the vault's passphrase policy (checked, not assumed)."""
    from shamir_mnemonic.wordlist import WORDLIST

    from vault.services.users import check_passphrase

    while True:
        words = " ".join(secrets.choice(WORDLIST) for _ in range(_PASSPHRASE_WORDS))
        with contextlib.suppress(InvalidInput):
            check_passphrase(words)
            return words


Cast = tuple[Person, Person, Person, Person]


def new_cast() -> Cast:
    """The administrator, the journalist and the two editors, each with a new passphrase."""
    return (
        Person("rowan", "admin", new_passphrase()),
        Person("amara", "journalist", new_passphrase()),
        Person("teodor", "editor", new_passphrase()),
        Person("lucia", "editor", new_passphrase()),
    )


@contextlib.contextmanager
def _logged_in(url: str, person: Person) -> Iterator[Client]:
    """A client with ``person``'s session, ended again on the server when done."""
    from vault.cli.client import Client

    with Client(url) as anonymous:
        answer = anonymous.post(
            "/v1/auth/login", {"username": person.username, "passphrase": person.passphrase}
        )
    client = Client(url, answer["token"])
    try:
        yield client
        client.request("POST", "/v1/auth/logout")
    finally:
        client.close()


def _step(out: Console, number: int, title: str) -> None:
    out.print()
    out.print(f"[bold]{number}. {title}[/]")


def _when(stamp: str) -> str:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if moment.tzinfo is None:  # the server speaks UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%H:%M:%S")


def review(out: Console, url: str, cast: Cast, keep: Path) -> tuple[str, str]:
    """Play the review; return the ids of the testimony and of the programme."""
    admin, journalist, editor, second = cast
    a, j, e, s = (p.username.capitalize() for p in cast)

    _step(out, 1, "The administrator opens a case")
    with _logged_in(url, admin) as client:
        case = client.post("/v1/cases", {"name": CASE})
        for person in (editor, journalist, second):
            client.post(f"/v1/cases/{case['id']}/members", {"username": person.username})
    out.print(
        f"{a}, the administrator, creates the case [bold]{CASE}[/] (a code name: case names "
        f"are not encrypted) and adds {e}, an editor, then {j}, a journalist, and {s}, another "
        "editor."
    )
    with _logged_in(url, editor) as client:
        for person in (journalist, second):
            client.post(f"/v1/cases/{case['id']}/approvals", {"username": person.username})
    out.print(
        f"Adding someone makes them a member, not a reader: {e}, the case's first member, "
        f"approves {j} and {s}, so that what is stored in the case is encrypted for them too. "
        f"{a} could not have approved them, or themselves."
    )

    _step(out, 2, "The journalist stores what a source handed over")
    with _logged_in(url, journalist) as client:
        out.print(f"{j} logs in over HTTP.")
        source = client.post(
            "/v1/sources",
            {"case": case["id"], "notes": IDENTITY_NOTES, "names": [ATTENDEE]},
        )
        out.print(
            f"{j} records the attendee of a closed meeting as a source. The vault names them "
            f"[bold]{source['pseudonym']}[/]. Who they really are goes into notes encrypted for "
            f"{j} alone (and for the recovery key)."
        )
        uploaded = {}
        for material, content, media_type in (
            (TESTIMONY, TESTIMONY.text.encode(), "text/plain"),
            (AGENDA, agenda_pdf(), "application/pdf"),
        ):
            created = client.upload(
                "/v1/documents",
                {
                    "case": case["id"],
                    "title": material.title,
                    "source": source["id"],
                    "kind": material.kind,
                },
                io.BytesIO(content),
                filename=material.filename,
                media_type=media_type,
            )
            uploaded[material.kind] = created["id"]
            out.print(
                f"{j} uploads “{material.title}” ({len(content)} bytes). The server encrypts "
                f"it as it arrives and logs the upload as entry {created['log_index']}."
            )
    testimony = str(uploaded[TESTIMONY.kind])

    _step(out, 3, "The editor reviews the case with the vault's command-line client")
    with _logged_in(url, editor) as client:
        out.print(f"{e} logs in.")
        pseudonyms = {
            s["id"]: s["pseudonym"] for s in client.get("/v1/sources", case=case["id"])["sources"]
        }
        documents = list(client.pages("/v1/documents", "documents", case=case["id"]))
        out.print(f"{e} lists the documents of {CASE}:")
        table = Table(box=None, header_style="bold", pad_edge=False)
        for heading in ("id", "title", "source", "size"):
            table.add_column(heading)
        for doc in documents:
            table.add_row(
                doc["id"][:8],
                escape(doc.get("title") or "(pending)"),
                pseudonyms.get(doc.get("source") or "", "-"),
                f"{doc.get('size') or 0} B",
            )
        out.print(table)
        with client.download(f"/v1/documents/{testimony}/content") as (_, body):
            text = b"".join(body).decode("utf-8")  # the client checks the SHA-256 at the end
        out.print(
            f"{e} reads the testimony. The client checks it against the server's SHA-256 "
            f"digest: what {e} reads is exactly what {j} stored."
        )
        out.print(Panel(escape(text.rstrip()), title=escape(TESTIMONY.title), expand=False))
        history = client.get(f"/v1/documents/{testimony}/access-log")["entries"]

    _step(out, 4, "The access history shows both of them")
    out.print(
        "Every upload and every reading is an entry in a tamper-evident log. "
        "The testimony's history:"
    )
    table = Table(box=None, header_style="bold", pad_edge=False)
    for heading in ("entry", "time (UTC)", "who", "what"):
        table.add_column(heading)
    for entry in history:
        what = _ACTIONS.get(entry["action"], entry["action"])
        if entry.get("outcome") not in (None, "ok", "success"):
            what += f" ({entry['outcome']})"
        table.add_row(str(entry["index"]), _when(entry["time"]), entry["actor"], what)
    out.print(table)
    agenda = str(uploaded[AGENDA.kind])
    _redact(out, url, editor, second, agenda, keep)
    return testimony, agenda


def _redact(
    out: Console, url: str, editor: Person, second: Person, agenda: str, keep: Path
) -> None:
    """The programme names its note-taker, the source: two editors redact it, and the vault
    releases a copy only once an independent reading finds nothing of her left."""
    e, s = editor.username.capitalize(), second.username.capitalize()
    _step(out, 5, "Two editors redact the programme before it can be published")
    with _logged_in(url, editor) as client:
        hints = client.post(f"/v1/documents/{agenda}/redactions/suggest")["suggestions"]
        kinds = sorted({h["reason"] for h in hints})
        out.print(
            f"The programme's distribution page names the note-taker, who is the source, and "
            f"gives her phone number. {e} asks the vault for suggestions; it finds "
            f"{len(hints)} ({', '.join(kinds) or 'none'})."
        )
        for term in (ATTENDEE, ATTENDEE_PHONE):
            client.post(
                f"/v1/documents/{agenda}/redactions",
                {"kind": "term", "term": term, "category": "source-identity"},
            )
        out.print(
            f"{e} proposes two redactions: her name and her phone number, each wherever it "
            "occurs (ignoring case, accents and spacing)."
        )
        own = client.get(f"/v1/documents/{agenda}/redactions")["redactions"]
        try:
            client.post(f"/v1/redactions/{own[0]['id']}/approve")
        except VaultError as refused:
            out.print(f"{e} tries to approve his own proposal. The vault refuses: {refused}.")
    with _logged_in(url, second) as client:
        for redaction in own:
            client.post(f"/v1/redactions/{redaction['id']}/approve", {"note": "checked"})
        out.print(f"{s}, the second editor, reviews both and approves them.")
    with _logged_in(url, editor) as client:
        with client.download(f"/v1/documents/{agenda}/export?redacted=true") as (response, body):
            pdf = b"".join(body)  # the client checks the SHA-256 at the end
            entry = response.headers.get("vault-log-index", "?")
    out.print(
        f"{e} exports the redacted programme ({len(pdf)} bytes, access-log entry {entry}). "
        "Every page was re-rendered as a picture with the areas blacked out, under a text layer "
        "read back from that picture by OCR; the file carries no document properties. Before "
        "releasing it the vault read it with pdfium, pypdf and poppler, scanned every byte of "
        "it, and read every page by OCR, searching each reading for every redacted string."
    )
    out.print(_checked(pdf))
    number = _keep(keep, pdf)
    out.print(
        f"The redacted programme and a picture of its redacted page {number} are kept in {keep}, "
        "to look at; they stay when the demo ends."
    )


def _keep(folder: Path, pdf: bytes) -> int:
    """The redacted programme, and a picture of its first page with a black bar, for people to
    look at (the vault itself is deleted at the end; these are invented documents)."""
    import pypdfium2 as pdfium  # type: ignore[import-untyped]  # loaded only for the demo

    (folder / "programme-redacted.pdf").write_bytes(pdf)
    document = pdfium.PdfDocument(pdf)
    try:
        number, picture = 1, None
        for index in range(len(document)):
            page = document[index]
            rendered = page.render(scale=110 / 72).to_pil().convert("RGB")
            page.close()
            picture = picture or rendered
            # A bar is solid black: a page with a share of pure black pixels has one.
            if rendered.convert("L").histogram()[0] > rendered.width * rendered.height / 1000:
                number, picture = index + 1, rendered
                break
        if picture is not None:
            picture.save(folder / f"programme-redacted-page-{number}.png")
    finally:
        document.close()
    return number


def recover(
    out: Console, url: str, vault: Vault, cast: Cast, shares: list[str], testimony: str
) -> Cast:
    """The journalist forgets her passphrase; two holders of recovery shares give her back
    everything she could read. Returns the cast with her new passphrase."""
    from vault.cli.client import Client

    admin, journalist, editor, second = cast
    j = journalist.username.capitalize()
    _step(out, 6, "Two share holders give the journalist her access back")
    # What `vault recover user` does on the server, with the shares typed by their holders.
    code, regrant = vault.recovery.recover_user(journalist.username, shares[:2])
    out.print(
        f"{j} forgot her passphrase. Two of the three holders of the recovery shares made at "
        f"`vault init` run `vault recover user {journalist.username}` on the server: the "
        f"recovery key is rebuilt in memory only, {j}'s account gets a new enrolment code and a "
        f"new key that is given at once the {regrant.documents} document key(s) and "
        f"{regrant.sources} source key(s) she held. Nobody else could have done it: the server "
        "holds no key that opens her documents."
    )
    renewed = replace(journalist, passphrase=new_passphrase())
    with Client(url) as anonymous:
        anonymous.post(
            "/v1/auth/enroll",
            {"username": renewed.username, "code": code, "passphrase": renewed.passphrase},
        )
    with _logged_in(url, renewed) as client:
        response = client.request("GET", f"/v1/documents/{testimony}/content")
    out.print(
        f"{j} enrols with the code and a new passphrase, and reads the testimony again at once "
        f"({len(response.content)} bytes), no colleague needed. The log holds `recovery.used`."
    )
    return (admin, renewed, editor, second)


def _checked(pdf: bytes) -> str:
    """The demo's own reading of the export, with a third library (pypdf)."""
    from pypdf import PdfReader

    from vault.redaction.match import normalise

    reader = PdfReader(io.BytesIO(pdf))
    pages = [normalise(page.extract_text() or "")[0] for page in reader.pages]
    whole = " ".join(pages).replace(" ", "")
    gone = all(normalise(t)[0].replace(" ", "") not in whole for t in (ATTENDEE, ATTENDEE_PHONE))
    kept = "north quay" in pages[0]
    return (
        f"Checked here with pypdf: {len(pages)} pages; her name and number "
        f"{'are gone' if gone else 'ARE STILL THERE'}; the document properties are "
        f"{'gone' if not reader.metadata else 'STILL THERE'}; the first page, which had nothing "
        f"to redact, {'keeps its text' if kept else 'LOST ITS TEXT'}."
    )
