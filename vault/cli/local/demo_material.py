"""The invented material ``vault demo`` plays with: an anonymous attendee's testimony about a
closed meeting, the meeting's printed programme (a PDF, in English with a Spanish copy), and the
source's identity notes. Every name, place, number and event here is fictional.

The programme is what makes redaction necessary: its distribution page names the note-taker
(the source) and her phone number, in the body text and in the file's document properties.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

__all__ = [
    "AGENDA",
    "ATTENDEE",
    "ATTENDEE_PHONE",
    "IDENTITY_NOTES",
    "TESTIMONY",
    "Material",
    "agenda_pdf",
]

# The source. Invented: no such person or number exists.
ATTENDEE = "Inés Caldera Roux"
ATTENDEE_PHONE = "+52 55 3187 2290"


@dataclass(frozen=True)
class Material:
    title: str
    filename: str
    kind: str
    text: str


TESTIMONY = Material(
    title="Testimony: the closed session of 14 March",
    filename="testimony-14-march.txt",
    kind="testimony",
    # One paragraph a line, so that the terminal (or the pager) wraps it to its own width.
    text=(
        "Account given by an attendee of the closed session of the Port Vellan Harbour Board, "
        "Tuesday 14 March, Room 3, Old Customs House. Taken down by the reporter; the attendee "
        "asked not to be named. (All names, places and events here are invented.)\n\n"
        "I was in the room as a note-taker. Seven board members were there, and two people "
        "from Corvane Marine who are not on the board.\n\n"
        'The agenda said item 4 was "Maintenance of the north quay". It was not about '
        'maintenance. The chair, Councillor Edda Marrow, said the board would "confirm the '
        'arrangement with Corvane", and that the north quay would be leased to them for forty '
        "years at a fixed rent.\n\n"
        "Nobody voted. The chair asked whether there were objections, waited a moment, and "
        "moved on. One member, Ilan Fosse, began to ask about the rent and was told it had "
        'been "settled in committee". I have never seen a committee paper about it.\n\n'
        'At the end we were told the minutes would record item 4 as "deferred". I was asked to '
        "hand in my notes before I left. I kept the printed programme, which I have given to "
        "the reporter.\n\n"
        "I am telling you this because the quay is public land, and the town was told "
        "nothing.\n"
    ),
)

AGENDA = Material(
    title="Programme: Harbour Board closed session, 14 March",
    filename="programme-14-march.pdf",
    kind="agenda",
    text="""\
PORT VELLAN HARBOUR BOARD
Closed session - Tuesday 14 March, 18:30
Room 3, Old Customs House, Quay Street

Programme

18:30  1. Apologies and declarations of interest
18:35  2. Minutes of the session of 7 February
18:45  3. Harbourmaster's report: winter storm damage, east breakwater
19:15  4. Maintenance of the north quay
          (papers to be tabled at the meeting; not circulated in advance)
19:45  5. Ferry timetable for the summer season
20:00  6. Any other business
20:10  Close

Attendance by invitation: Corvane Marine Ltd (item 4)
Not for publication. Please return this programme at the end of the session.
""",
)

IDENTITY_NOTES = (
    f"Invented for the demo. {ATTENDEE}, note-taker at the 14 March closed session. Met at the "
    "ferry cafe on Quay Street; contact only in person, never by phone."
)

_DISTRIBUTION = f"""\
Distribution of this programme

Board members (7), numbered copies 1-7
Harbourmaster, copy 8
Minutes: {ATTENDEE}, copy 9
Note-taker's line for the evening: {ATTENDEE_PHONE}

Copies are to be handed back to the secretary at the close.
"""

_PROGRAMA = f"""\
JUNTA DEL PUERTO DE VELLAN
Sesión cerrada - martes 14 de marzo, 18:30
Sala 3, Antigua Aduana, calle del Muelle

Programa (copia en español)

18:30  1. Disculpas y declaraciones de interés
18:35  2. Acta de la sesión del 7 de febrero
18:45  3. Informe del capitán del puerto: daños del temporal
19:15  4. Mantenimiento del muelle norte
19:45  5. Horario del ferry para la temporada de verano
20:10  Cierre

Toma de notas: {ATTENDEE} (tel. {ATTENDEE_PHONE})
No publicar. Devuelva este programa al final de la sesión.
"""


def agenda_pdf() -> bytes:
    """The printed programme as the source handed it over: three A4 pages (the programme, its
    distribution list, a Spanish copy) whose document properties name the note-taker too, as
    office software does."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    # invariant: the same bytes every time (no creation date or random file id).
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    pdf.setTitle("Closed session 14 March - programme")
    pdf.setAuthor(ATTENDEE)
    pdf.setSubject("Harbour Board")
    for page in (AGENDA.text, _DISTRIBUTION, _PROGRAMA):
        y = 780.0
        for line in page.splitlines():
            pdf.setFont("Helvetica-Bold" if line.isupper() else "Helvetica", 11)
            pdf.drawString(64, y, line)
            y -= 17
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()
