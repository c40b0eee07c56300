"""Spotify linking: hand-made pasted addresses are refused with the reason, never a crash."""

from __future__ import annotations

import pytest

from appliance.music.errors import LinkRefused
from appliance.music.linking import parse_return


@pytest.mark.parametrize("pasted", [
    "http://[::1:8080/platforms/spotify/callback?code=a&state=b",  # unclosed IPv6 bracket
    "http://[127.0.0.1]]/platforms/spotify/callback?code=a&state=b",
])
def test_malformed_pasted_address_is_refused_with_the_reason(pasted):
    with pytest.raises(LinkRefused, match="not the address Spotify sent you back to"):
        parse_return(pasted)
