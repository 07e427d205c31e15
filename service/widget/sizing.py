"""How tall a snippet makes a poll's iframe: a rule from the poll alone (kind, question,
options, own words, comments) that fits each state of its page in a 320 px wide frame.

A pasted iframe has one height for good (no script resizes it): it must hold the form,
the form with the own-words box open, and after the vote the results with the comment
form. The loader's frame is resized by the page itself and only reserves the form's
height. The figures are the embed page's CSS boxes (embed.css: 16 px text at 1.45 line
height, 16 px padding); text lines are estimated from characters per line at the
narrowest width, so wider frames get some blank space rather than a cut-off button.
tests/browser/test_widget_browser.py measures every state in Chromium against it."""

from __future__ import annotations

from dataclasses import dataclass

from service.polls.model import Poll

LINE = 24  # one line of body text (16 px × 1.45), rounded up
QUESTION_LINE = 25  # the question: 1.15rem × 1.3
# Characters a line holds in the 286 px of text a 320 px frame leaves (Chromium's
# default sans on Linux is wide; Vietnamese diacritics do not widen it).
CHARS = 28
QUESTION_CHARS = 22
FRAME = 34  # padding 16 + border 1, top and bottom
ACTIONS = 16 + 44 + LINE + 8  # margin, the button, links wrapping onto a second line
MESSAGE = 12 + 2 * LINE  # an outcome or a refused choice, up to two lines
OWN_WORDS = 2 * LINE + 4 + (3 * LINE + 16) + 4 + 2 * 22 + 8  # label, box, hint
# The comments section: rule and heading, body field (label, box), name field, button,
# outcome line and "no comments yet"; a premoderated poll's hint under the form.
COMMENTS = 36 + 32 + (2 * LINE + 4 + 3 * LINE + 16 + 10) + (LINE + 4 + 42 + 10)
COMMENTS += 60 + (12 + LINE) + (12 + LINE)
PREMODERATED_HINT = 2 * 22
MAX_HEIGHT = 4000


@dataclass(frozen=True)
class FrameHeights:
    form: int  # the form as it first shows: what the loader reserves
    tallest: int  # every state fits: a plain iframe's height


def _lines(text: str, per_line: int) -> int:
    return max(1, -(-len(text) // per_line))


def _head(poll: Poll) -> int:
    height = FRAME + QUESTION_LINE * _lines(poll.question, QUESTION_CHARS) + 8
    if poll.description:
        height += LINE * _lines(poll.description, CHARS) + 12
    return height


def _answers(poll: Poll) -> int:
    """The form's answer block: the rule line, then options or scale points."""
    height = LINE * 2 + 12  # "Choose between 1 and 3 options." may take two lines
    ends = 6 + 20 if poll.low_label or poll.high_label or poll.kind == "nps" else 0
    if poll.kind == "rating" and poll.scale == "stars":
        return height + 56 + ends
    if poll.kind in ("rating", "nps"):
        return height + 44 + ends
    # Choices and Likert points one under another, each padded and spaced.
    return height + sum(15 + LINE * _lines(o.label, CHARS - 3) for o in poll.options)


def _results(poll: Poll) -> int:
    """Results after a vote: the thank-you line (or, before a vote, the way back to the
    form), a row per option (label, figures, bar), a scale's statistics, the total and
    the held votes."""
    rows = sum(LINE * _lines(o.label + " 100% (1.000)", CHARS) + 14 + 10 for o in poll.options)
    stats = 0
    if poll.is_rating:
        stats = 12 + LINE * (4 if poll.kind == "nps" else 2)
    return MESSAGE + 16 + 32 + rows + stats + (12 + LINE) + LINE


def frame_heights(poll: Poll) -> FrameHeights:
    head = _head(poll)
    form = head + _answers(poll) + ACTIONS
    tallest = form + MESSAGE + (OWN_WORDS if any(o.other for o in poll.options) else 0)
    after = head + _results(poll)
    if poll.comments != "off":
        after += COMMENTS + (PREMODERATED_HINT if poll.comments == "premoderated" else 0)
    return FrameHeights(min(form, MAX_HEIGHT), min(max(tallest, after), MAX_HEIGHT))
