"""Walkthrough 15: a damaged chunk is named by its byte range (its length field to its tag),
never by one byte position that is not where the damage is: AES-GCM says only that some byte
of the chunk changed."""

from __future__ import annotations

import io
import re
import struct

import pytest

from ccapki.backup import BackupReader
from ccapki.errors import FileFormatError

from .test_format import PASS, RECORDS, archive, read_all


def _chunk_starts(data: bytes) -> list[int]:
    pos = BackupReader(io.BytesIO(data), PASS)._offset  # the first chunk
    starts = []
    while pos < len(data):
        starts.append(pos)
        length, _flag = struct.unpack(">IB", data[pos : pos + 5])
        pos += 5 + length
    return starts


@pytest.mark.parametrize("which", [0, 3])
def test_a_damaged_chunk_names_its_byte_range(which: int) -> None:
    data = archive(RECORDS, chunk_size=200)
    starts = [*_chunk_starts(data), len(data)]
    assert len(starts) > 5
    start, end = starts[which], starts[which + 1] - 1
    flipped = (start + end) // 2 + 7  # deep inside the chunk, far from its start
    bad = bytearray(data)
    bad[flipped] ^= 0x04
    with pytest.raises(FileFormatError) as info:
        read_all(bytes(bad))
    message = str(info.value.message)
    assert f"chunk {which}, bytes {start:,}-{end:,}, does not authenticate" in message, message
    assert not re.search(r"at byte \d", message), message
    first, last = (
        int(x.replace(",", "")) for x in re.findall(r"bytes ([\d,]+)-([\d,]+)", message)[0]
    )
    assert first <= flipped <= last
