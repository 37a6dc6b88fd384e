"""The invented material ``vault demo`` plays with: an anonymous attendee's testimony about a
closed meeting, the meeting's programme, and the source's identity notes. Every name, place and
event here is fictional."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AGENDA", "IDENTITY_NOTES", "TESTIMONY", "Material"]


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
    filename="programme-14-march.txt",
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
    "Invented for the demo. Note-taker at the 14 March closed session. Met at the ferry cafe "
    "on Quay Street; contact only in person, never by phone."
)
