"""``vault demo``: a throwaway vault on this machine, and the review it exists for.

The demo makes a vault in a fresh temporary directory (mode 0700) on the embedded SQLite
database, serves the API from this process on 127.0.0.1, creates an administrator, a journalist
and two editors with generated passphrases, and plays one review: the journalist records a source
and uploads two documents over HTTP, the editor lists the case and reads the testimony through
the CLI's own client, and the testimony's access history shows both of them. Then the editor
proposes redactions of the note-taker's name and phone number in the programme (a PDF), a second
editor approves them, and the redacted programme is exported and checked once more here. Every
name, place and event in the material is invented.

Nothing of it outlives the command. The server runs in a thread of this process (no child
process can be orphaned); on Ctrl-C, SIGTERM, SIGHUP or any error it is stopped and the
directory is deleted. The server's JSON logs go to a file inside that directory, never to the
terminal. The demo vault's settings are its own: the ``VAULT_*`` environment is not read, so a
``VAULT_DATABASE_URL`` meant for a real vault is never touched.
"""

from __future__ import annotations

import contextlib
import io
import logging
import secrets
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from vault.cli.demo_material import (
    AGENDA,
    ATTENDEE,
    ATTENDEE_PHONE,
    IDENTITY_NOTES,
    TESTIMONY,
    agenda_pdf,
)
from vault.crypto import Argon2Params
from vault.errors import InvalidInput, StorageError, VaultError
from vault.settings import Settings

# The web layer (api, uvicorn) and the HTTP client are imported inside the functions that use
# them, as `vault serve` does: `vault --help` and every other command load without them.
if TYPE_CHECKING:
    from vault.cli.client import Client
    from vault.instance import Vault

__all__ = ["demo", "register"]

PROFILE = "demo"
CASE = "grey-heron"  # case names are stored in the clear: a code name, as in real use
_HOST = "127.0.0.1"
_READY_SECONDS = 30.0
_STOP_SECONDS = 10.0
_PASSPHRASE_WORDS = 6  # from the 1024 SLIP-39 words: 60 bits


@dataclass(frozen=True)
class _Person:
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


def _passphrase() -> str:
    """Random words that pass the vault's passphrase policy (checked, not assumed)."""
    from shamir_mnemonic.wordlist import WORDLIST

    from vault.services.users import check_passphrase

    while True:
        words = " ".join(secrets.choice(WORDLIST) for _ in range(_PASSPHRASE_WORDS))
        with contextlib.suppress(InvalidInput):
            check_passphrase(words)
            return words


Cast = tuple[_Person, _Person, _Person, _Person]


def _cast() -> Cast:
    return (
        _Person("rowan", "admin", _passphrase()),
        _Person("amara", "journalist", _passphrase()),
        _Person("teodor", "editor", _passphrase()),
        _Person("lucia", "editor", _passphrase()),
    )


def _settings(root: Path) -> Settings:
    """The demo vault's settings: the embedded default, no one-time codes (this vault lives for
    minutes), and Argon2id at the vault's floor, never below it."""
    settings = Settings(
        data_dir=root / "data",
        totp_required_roles="",
        argon2_memory_kib=Argon2Params.FLOOR_MEMORY_KIB,
        argon2_time_cost=Argon2Params.FLOOR_TIME_COST,
        argon2_lanes=Argon2Params.FLOOR_LANES,
    )
    settings.validate()
    return settings


def _create_vault(settings: Settings, cast: Cast) -> tuple[Vault, list[str]]:
    """The vault, and its recovery shares (handed to the story's share holders)."""
    from vault.initialise import init_vault
    from vault.instance import Vault
    from vault.storage.models import Role

    admin, *others = cast
    made = init_vault(settings, admin=admin.username, passphrase=admin.passphrase)
    vault = Vault.open(settings)
    try:
        for person in others:
            vault.auth.create_account(
                None, username=person.username, role=Role(person.role), passphrase=person.passphrase
            )
    except BaseException:
        vault.close()
        raise
    return vault, made.mnemonics


# -- the server ------------------------------------------------------------------------------


def _listen(port: int | None) -> socket.socket:
    """A socket bound before the server starts, so a free port cannot be taken in between."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((_HOST, port or 0))
    except OSError as exc:
        sock.close()
        where = f"{_HOST}:{port}" if port else f"a free port on {_HOST}"
        raise StorageError(f"cannot listen on {where}: {exc.strerror}") from None
    return sock


class _Server:
    """uvicorn in a daemon thread of this process, stopped by ``stop`` (signals stay with the
    main thread: uvicorn installs no handlers outside it)."""

    def __init__(self, settings: Settings, vault: Vault, sock: socket.socket) -> None:
        import uvicorn

        from api.app import create_app

        config = uvicorn.Config(
            create_app(settings, vault=vault),
            log_config=None,  # the demo routes the loggers itself (see _server_logs)
            access_log=False,
            server_header=False,
            proxy_headers=False,
            lifespan="on",
            timeout_graceful_shutdown=3,
        )
        self._server = uvicorn.Server(config)
        port = sock.getsockname()[1]
        self.url = f"http://{_HOST}:{port}"
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name="vault-demo-server",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + _READY_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise StorageError("the demo server did not start (run with --debug for its log)")
            time.sleep(0.02)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with _uninterrupted():
            self._server.should_exit = True
            self._thread.join(_STOP_SECONDS)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(_STOP_SECONDS)


@contextlib.contextmanager
def _server_logs(path: Path, *, debug: bool) -> Iterator[None]:
    """The server's JSON logs (access lines, uvicorn, services) into ``path``, not the
    terminal; with ``--debug`` they also reach stderr as usual."""
    from api.middleware import JsonFormatter

    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    saved = []
    for name in ("uvicorn", "api", "vault"):
        logger = logging.getLogger(name)
        saved.append((logger, logger.handlers[:], logger.level, logger.propagate))
        logger.handlers[:] = [handler]
        logger.setLevel(logging.DEBUG if debug else logging.INFO)
        logger.propagate = debug
    try:
        yield
    finally:
        for logger, handlers, level, propagate in saved:
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate
        handler.close()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (a closed terminal) end the demo the way Ctrl-C does, so that the
    server is stopped and the directory deleted rather than left behind. SIGINT is handled
    explicitly too: a process started in the background of a shell without job control
    inherits it ignored, and the demo promises to stop on Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, _interrupt) for sig in handled}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _uninterrupted() -> Iterator[None]:
    """Ignore Ctrl-C while cleaning up: a second one must not leave the vault on disk."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# -- the story -------------------------------------------------------------------------------


@contextlib.contextmanager
def _logged_in(url: str, person: _Person) -> Iterator[Client]:
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


def _story(out: Console, url: str, cast: Cast, keep: Path) -> tuple[str, str]:
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
    out: Console, url: str, editor: _Person, second: _Person, agenda: str, keep: Path
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


def _recover(
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
    renewed = replace(journalist, passphrase=_passphrase())
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


def _next_steps(
    out: Console, url: str, cast: Cast, root: Path, testimony: str, agenda: str
) -> None:
    _, _, editor, _ = cast
    out.print()
    out.print(f"[bold]The demo vault is running at {url}[/]")
    table = Table(box=None, header_style="bold", pad_edge=False)
    for heading in ("username", "role", "passphrase"):
        table.add_column(heading)
    for person in cast:
        table.add_row(person.username, person.role, person.passphrase)
    out.print(table)
    out.print()
    out.print(
        "[bold]Next commands to try[/], in another terminal. They use the profile "
        f"'{PROFILE}', so your own logins are left alone. Log in as {editor.username}, the "
        "editor, with the passphrase above:"
    )
    commands = [
        f"vault login --server {url} --username {editor.username} --profile {PROFILE}",
        f"vault whoami --profile {PROFILE}",
        f"vault cases ls --profile {PROFILE}",
        f"vault docs ls --case {CASE} --profile {PROFILE}",
        f"vault docs read {testimony[:8]} --profile {PROFILE}",
        f"vault redact ls {agenda[:8]} --profile {PROFILE}",
        f"vault redact preview {agenda[:8]} --profile {PROFILE}",
        f"vault export {agenda[:8]} --redacted -o programme-redacted.pdf --profile {PROFILE}",
        f"vault audit log --data-dir {root / 'data'} --doc {testimony}",
        f"vault logout --profile {PROFILE}",
    ]
    for command in commands:
        out.print(f"  {command}", soft_wrap=True)
    out.print(f"The API's own documentation is at {url}/docs.")
    out.print()


def _play(
    out: Console, root: Path, keep: Path, *, serve: bool, port: int | None, debug: bool
) -> None:
    with contextlib.ExitStack() as cleanup:  # undone in reverse: server, logs, vault, socket
        # Listen first, so that a --port already in use fails before any other work.
        sock = cleanup.enter_context(contextlib.closing(_listen(port)))
        settings = _settings(root)
        cast = _cast()
        out.print(
            f"A throwaway vault in {root}: an administrator, a journalist and two editors, "
            "each with a new random passphrase."
        )
        vault, shares = _create_vault(settings, cast)
        cleanup.callback(vault.close)
        server = _Server(settings, vault, sock)
        cleanup.enter_context(_server_logs(root / "server.log", debug=debug))
        cleanup.callback(server.stop)
        server.start()
        out.print(f"Its API is served at {server.url}.")
        testimony, agenda = _story(out, server.url, cast, keep)
        cast = _recover(out, server.url, vault, cast, shares, testimony)
        if serve:
            _next_steps(out, server.url, cast, root, testimony, agenda)
            _wait(out, server)


def _wait(out: Console, server: _Server) -> None:
    """Until Ctrl-C (or SIGTERM/SIGHUP); an error if the server stops by itself."""
    try:
        # Inside the try: whoever reads this line may press Ctrl-C at once.
        out.print("Press Ctrl-C to stop the server and delete the demo vault.")
        while server.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        return
    raise StorageError("the demo server stopped unexpectedly")


def demo(
    ctx: typer.Context,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="End after the story instead of serving.")
    ] = False,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="Serve on this port (default: a free one).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Try Source Vault: a throwaway vault and one review, played step by step.

    A journalist uploads an invented testimony and a meeting's programme; an editor reads them;
    two editors redact the source's name and number from the programme and export it; two
    holders of the recovery shares give the journalist her access back after she forgets her
    passphrase.

    Then it serves until Ctrl-C, printing the passphrases and the commands to try next.

    With --no-serve it ends after the story. Everything is deleted at the end."""
    out = Console(highlight=False)
    debug = bool(ctx.find_root().params.get("debug"))
    root = Path(tempfile.mkdtemp(prefix="vault-demo-"))  # mode 0700
    keep = Path(tempfile.mkdtemp(prefix="vault-demo-export-"))  # kept: invented documents only
    with _signals_interrupt():
        try:
            _play(out, root, keep, serve=not no_serve, port=port, debug=debug)
        finally:
            with _uninterrupted():
                shutil.rmtree(root, ignore_errors=True)
                if not any(keep.iterdir()):
                    keep.rmdir()
    out.print()
    out.print(f"Stopped the server and deleted the demo vault in {root}.")
    if keep.exists():
        out.print(f"The redacted programme and its picture are still in {keep}.")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
