"""Decodable document ids that look like random UUID4 strings.

A 49-bit payload (user index, collection code, day ordinal, sequence) sits in a
122-bit block whose other 73 bits must be zero (the check field). The block is
encrypted with a seed-keyed 4-round Feistel network and spread over the free bits
of a version-4/RFC-4122-variant UUID. Decoding reverses this; a random or foreign
UUID fails the check and decodes to None, so no index of issued ids is needed.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import NamedTuple

_HALF = 61
_HALF_MASK = (1 << _HALF) - 1
_USER_BITS, _COLL_BITS, _DAY_BITS, _SEQ_BITS = 16, 5, 20, 8
_PAYLOAD_BITS = _USER_BITS + _COLL_BITS + _DAY_BITS + _SEQ_BITS

MAX_USERS = 1 << _USER_BITS
MAX_SEQUENCE = (1 << _SEQ_BITS) - 1


class DecodedId(NamedTuple):
    """The fields packed into a sandbox id."""

    user_index: int
    collection_code: int
    day_ordinal: int
    sequence: int


class IdCodec:
    """Encode/decode sandbox ids for one world seed."""

    def __init__(self, seed: int) -> None:
        self._keys = [
            hashlib.blake2b(f"oura-sandbox-id|{seed}|{i}".encode(), digest_size=16).digest()
            for i in range(4)
        ]

    def _round(self, index: int, half: int) -> int:
        digest = hashlib.blake2b(half.to_bytes(8, "big"), key=self._keys[index], digest_size=8)
        return int.from_bytes(digest.digest(), "big") & _HALF_MASK

    def encode(self, user_index: int, collection_code: int, day_ordinal: int, sequence: int) -> str:
        """Return the UUID string for these fields.

        Raises:
            ValueError: If a field does not fit its bit width.
        """
        fields = (
            (user_index, _USER_BITS),
            (collection_code, _COLL_BITS),
            (day_ordinal, _DAY_BITS),
            (sequence, _SEQ_BITS),
        )
        block = 0
        for value, bits in fields:
            if not 0 <= value < (1 << bits):
                raise ValueError(f"id field {value} does not fit in {bits} bits")
            block = (block << bits) | value
        left, right = block >> _HALF, block & _HALF_MASK
        for index in range(4):
            left, right = right, left ^ self._round(index, right)
        block = (left << _HALF) | right
        value = (
            ((block >> 74) << 80)
            | (4 << 76)
            | (((block >> 62) & 0xFFF) << 64)
            | (0b10 << 62)
            | (block & ((1 << 62) - 1))
        )
        return str(uuid.UUID(int=value))

    def decode(self, text: str) -> DecodedId | None:
        """Return the fields of an id made by `encode` (canonical lowercase form), else None."""
        try:
            parsed = uuid.UUID(str(text))
        except (ValueError, TypeError, AttributeError):
            return None
        if parsed.version != 4 or parsed.variant != uuid.RFC_4122 or str(parsed) != text:
            return None
        value = parsed.int
        block = ((value >> 80) << 74) | (((value >> 64) & 0xFFF) << 62) | (value & ((1 << 62) - 1))
        left, right = block >> _HALF, block & _HALF_MASK
        for index in reversed(range(4)):
            left, right = right ^ self._round(index, left), left
        block = (left << _HALF) | right
        if block >> _PAYLOAD_BITS:
            return None
        sequence = block & MAX_SEQUENCE
        block >>= _SEQ_BITS
        day_ordinal = block & ((1 << _DAY_BITS) - 1)
        block >>= _DAY_BITS
        collection_code = block & ((1 << _COLL_BITS) - 1)
        return DecodedId(block >> _COLL_BITS, collection_code, day_ordinal, sequence)
