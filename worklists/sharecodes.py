"""Share codes: 8 characters from an alphabet without look-alikes, shown as XXXX-XXXX."""

import re
import secrets

# No 0/O, 1/I/L, or U/V pairs that people confuse when reading a code aloud or off a screen.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
LENGTH = 8
_VALID = re.compile(f"^[{ALPHABET}]{{{LENGTH}}}$")


def generate() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise(text: str) -> str:
    """'7kq2-m9xd', ' 7KQ2 M9XD ' and '7KQ2M9XD' all become '7KQ2M9XD'."""
    return re.sub(r"[\s\-]", "", text or "").upper()


def is_well_formed(code: str) -> bool:
    return bool(_VALID.match(code))


def display(code: str) -> str:
    return f"{code[:4]}-{code[4:]}" if len(code) == LENGTH else code
