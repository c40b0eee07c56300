"""The error board: every active error, folded once, from the bus's first event on."""

from __future__ import annotations

from appliance.core.bus import Bus, ErrorCleared, ErrorRaised
from appliance.core.errors import ErrorBoard


def raised(key: str, t: float) -> ErrorRaised:
    return ErrorRaised(key=key, source=key.split(".")[0], message=f"{key} broke", t=t)


def test_the_board_keeps_every_active_error_oldest_first() -> None:
    board = ErrorBoard()
    board.apply(raised("camera", 1.0))
    board.apply(raised("network", 2.0))
    board.apply(raised("spotify.rate_limited", 3.0))
    board.apply(ErrorCleared(key="network"))
    assert [e.key for e in board.active()] == ["camera", "spotify.rate_limited"]
    board.apply(raised("camera", 4.0))  # raised again: newer
    assert [e["key"] for e in board.listing()] == ["spotify.rate_limited", "camera"]
    assert "camera" in board and "network" not in board and len(board) == 2


async def test_a_board_made_with_the_bus_sees_errors_nobody_was_listening_for() -> None:
    bus = Bus()
    board = ErrorBoard(bus)
    bus.publish(raised("camera", 1.0))
    bus.publish(raised("network", 2.0))  # the bus keeps only this one as its latest
    bus.publish(raised("store.moved_aside", 3.0))
    bus.publish(ErrorCleared(key="store.moved_aside"))
    # A reader that starts only now (a restarted web service) gets them all.
    assert [e.key for e in board.active()] == ["camera", "network"]
