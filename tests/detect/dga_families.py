"""Domain-generation algorithms re-implemented for the tests, from their published descriptions.

Each function is our own rendering of a family's structure (its PRNG style, alphabet, length
range and suffixes) as described in public malware write-ups; they need not match a live
sample bit for bit, only generate names the way that family does. Also here: a held-out benign
generator with its own vocabulary and seed, distinct from ``scripts/dga_benign.py``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from datetime import date, timedelta


def _words(text: str) -> list[str]:
    return text.split()


M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF


def _days(count: int) -> list[date]:
    start = date(2025, 1, 1)
    return [start + timedelta(days=k) for k in range(count)]


def conficker(count: int) -> list[str]:
    """Conficker A/B style: 8-11 random lowercase letters, date-seeded, generic TLDs."""
    out: list[str] = []
    for day in _days(count // 250 + 1):
        state = (day.year * 10000 + day.month * 100 + day.day) * 0x9E3779B1 & M64
        for _ in range(250):
            state = (state * 6364136223846793005 + 1442695040888963407) & M64
            length = 8 + (state >> 33) % 4
            label = ""
            for _ in range(length):
                state = (state * 6364136223846793005 + 1442695040888963407) & M64
                label += chr(ord("a") + (state >> 40) % 26)
            tld = ["com", "net", "org", "info", "biz"][(state >> 20) % 5]
            out.append(f"{label}.{tld}")
    return out[:count]


def cryptolocker(count: int) -> list[str]:
    """CryptoLocker: shift-xor mixing of day, month and year; 12-15 letters from a-y."""
    out: list[str] = []
    for day in _days(count // 1000 + 1):
        d, m, y = day.day * 0x1F2E3D + 0x5A17, day.month * 0x3C4D5E + 0x77, day.year * 0x10001
        for _ in range(1000):
            d = (((d ^ (8 * d)) >> 11) ^ ((d & 0xFFFFFFF0) << 17)) & M32
            m = (((m ^ (4 * m)) >> 25) ^ (16 * (m & 0xFFFFFFF8))) & M32
            y = (((y ^ (y << 13)) >> 19) ^ ((y & 0xFFFFFFFE) << 12)) & M32
            length = (d ^ m ^ y) % 4 + 12
            label = ""
            for _ in range(length):
                d = (((d ^ (8 * d)) >> 11) ^ ((d & 0xFFFFFFF0) << 17)) & M32
                m = (((m ^ (4 * m)) >> 25) ^ (16 * (m & 0xFFFFFFF8))) & M32
                y = (((y ^ (y << 13)) >> 19) ^ ((y & 0xFFFFFFFE) << 12)) & M32
                label += chr(ord("a") + (d ^ m ^ y) % 25)
            tld = ["com", "net", "biz", "ru", "org", "co.uk", "info"][(d ^ y) % 7]
            out.append(f"{label}.{tld}")
    return out[:count]


def _mix64(value: int) -> int:
    value = (value ^ (value >> 33)) * 0xFF51AFD7ED558CCD & M64
    value = (value ^ (value >> 33)) * 0xC4CEB9FE1A85EC53 & M64
    return value ^ (value >> 33)


def necurs(count: int) -> list[str]:
    """Necurs: 64-bit mixing of (date, sequence), 7-21 letters from a-y, many ccTLDs."""
    tlds = _words(
        "tj in jp tw ac cm la mn so sh sc nu nf mu ms mx ki im cx cc tv bz me eu de ru co"
    )
    out: list[str] = []
    for index in range(count):
        seed = _mix64((2025 << 40) + (index // 2048 << 20) + index % 2048)
        length = 7 + seed % 15
        label = ""
        for _ in range(length):
            seed = _mix64(seed + 0x9E3779B97F4A7C15)
            label += chr(ord("a") + seed % 25)
        out.append(f"{label}.{tlds[seed % len(tlds)]}")
    return out


def ramnit(count: int, seed: int = 0x79159C10) -> list[str]:
    """Ramnit: Park-Miller minimal-standard generator; 8-19 letters from a-y, .com."""
    out: list[str] = []

    def step(value: int) -> int:
        return (16807 * (value % 127773) - 2836 * (value // 127773)) & M32

    state = seed
    for _ in range(count):
        state = step(state)
        length = state % 12 + 8
        label = ""
        for _ in range(length):
            state = step(state)
            label += chr(ord("a") + state % 25)
        out.append(f"{label}.com")
    return out


def pykspa(count: int) -> list[str]:
    """Pykspa: date-seeded add-multiply generator, 6-15 letters, a few generic TLDs."""
    out: list[str] = []
    for day in _days(count // 200 + 1):
        state = (day.toordinal() * 2654435761) & M32
        for _ in range(200):
            state = (state * 1103515245 + 12345) & M32
            length = 6 + (state >> 16) % 10
            label = ""
            for _ in range(length):
                state = (state * 1103515245 + 12345) & M32
                label += chr(ord("a") + (state >> 16) % 26)
            out.append(f"{label}.{['com', 'net', 'org', 'info', 'cc'][(state >> 8) % 5]}")
    return out[:count]


def murofet(count: int) -> list[str]:
    """Murofet: MD5 of (year, month, day, index); each digest nibble a letter a-p; 16+ chars."""
    out: list[str] = []
    for day in _days(count // 800 + 1):
        for index in range(800):
            digest = hashlib.md5(
                bytes([day.year % 256, day.month, day.day, 0]) + index.to_bytes(4, "little"),
                usedforsecurity=False,
            ).digest()
            letters = "".join(
                chr(ord("a") + (b & 0xF)) + chr(ord("a") + (b >> 4)) for b in digest[:10]
            )
            label = letters[: 16 + digest[15] % 5]
            out.append(f"{label}.{['ru', 'com', 'biz', 'info', 'org', 'net'][digest[14] % 6]}")
    return out[:count]


def banjori(count: int) -> list[str]:
    """Banjori: a seed name whose first four letters are rewritten at each step; the rest
    stays dictionary words (a hybrid, expected to be hard)."""

    def wrap(value: int) -> int:
        return (value - ord("a")) % 26 + ord("a")

    name = [ord(c) for c in "earnestnessbiophysicalohax"]
    out: list[str] = []
    for _ in range(count):
        name[0] = wrap(name[0] + name[3])
        name[1] = wrap(name[0] + 2 * name[1])
        name[2] = wrap(name[0] + name[2] - 1)
        name[3] = wrap(name[1] + name[2] + name[3])
        out.append("".join(map(chr, name)) + ".com")
    return out


SUPPOBOX_WORDS = _words(
    """
above action advance afraid against airplane almost alone already although always amount anger
angry animal another answer appear apple around arrive article attempt banker basket battle
beauty became because become before begin behind being believe belong beneath beside better
between beyond bicycle board bottle bottom branch breakfast breath bridge bright broken brother
brought building business butter captain careful carry caught cause center certain chair chance
change charge chicken child choose circle citizen claim class clean clear climb clock close
cloth cloud coast coffee collect colony common company compare complete condition consider
contain continue corner cotton could country course cousin cover crowd dance danger daughter
dead decide degree depend describe desert design destroy detail develop differ difficult dinner
direct discover distant divide doctor dollar double dream dress drink drive during early earth
either wiring element enemy energy engine enough enter equal escape evening event exact example
except excite exercise expect experience explain
"""
)


def suppobox(count: int) -> list[str]:
    """Suppobox: two dictionary words glued together (the known weakness of n-gram models)."""
    rng = random.Random(4242)
    return [f"{rng.choice(SUPPOBOX_WORDS)}{rng.choice(SUPPOBOX_WORDS)}.net" for _ in range(count)]


FAMILIES: dict[str, Callable[[int], list[str]]] = {
    "conficker": conficker,
    "cryptolocker": cryptolocker,
    "necurs": necurs,
    "ramnit": ramnit,
    "pykspa": pykspa,
    "murofet": murofet,
}
HARD_FAMILIES: dict[str, Callable[[int], list[str]]] = {
    "banjori": banjori,
    "suppobox": suppobox,
}

# Held-out benign vocabulary: German, Italian, Portuguese and English words, surnames and
# towns chosen apart from the training generator's lists.
WORDS = _words(
    """
haus schloss stadt welt markt bahn zeitung muehle reise turnhalle kunst musik bild wetter
schule kraft technik arbeit werk stern sonne wald berg see fluss feld licht wasser feuer freund
forno giardino citta mondo mercato banca viaggio giornale scuola lavoro arte stella sole bosco
monte vigna fiume campo luce acqua fuoco amico pane pasta gelato erboristeria cartoleria cidade
terra feira viagem jornal escola trabalho estrela floresta serra campo sabor chuva fogo amigo
padaria loja saude noticias futebol praia ilha porto anchor beacon bloom breeze canyon cedar
cherry copper crown dawn delta ember falcon fern wharf hazel horizon ivory jasper juniper
lantern maple meadow orchard pearl pine prairie quartz raven ridge saffron sage sparrow spruce
summit thistle timber velvet willow creamery bistro brewing cellar orthodontics wiring flooring
framing carwash glass heating kitchens landscaping locksmith moving painting paving plumbers
roofing tailor tiles windows academy analytics holdings collective foundation institute
insights labs logistics broadcast associates pharma research robotics software studios
automation ventures works
"""
)
SURNAMES = _words(
    """
mueller schmidt schneider fischer weber wagner becker schulz hoffmann koch richter klein
wolf schroeder neumann schwarz zimmermann braun krueger hartmann lange rossi russo ferrari
esposito bianchi romano colombo ricci marino greco bruno gallo conti costa giordano mancini
silva cardoso ferreira pereira oliveira rodrigues martins sousa fernandes goncalves
"""
)
TOWNS = _words(
    """
berlin hamburg munchen koeln frankfurt stuttgart dresden leipzig bremen hannover roma milano
napoli torino palermo genova bologna firenze venezia verona lisboa porto braga coimbra faro
geneve lausanne bern zurich basel luzern namur liege gent brugge antwerpen
"""
)
TLDS = ["com"] * 10 + ["de", "it", "pt", "ch", "be", "at", "net", "org", "eu", "co.uk", "com.br"]


def held_out_benign(count: int, *, seed: int = 77) -> list[str]:
    """Human-looking names from the vocabulary above (never the training list's)."""
    rng = random.Random(seed)
    names: set[str] = set()
    while len(names) < count:
        word, other = rng.choice(WORDS), rng.choice(WORDS)
        pattern = rng.randrange(9)
        label = [
            f"{word}{other}",
            f"{word}-{other}",
            f"{rng.choice(SURNAMES)}{word}",
            f"{rng.choice(SURNAMES)}-{rng.choice(SURNAMES)}",
            f"{rng.choice(TOWNS)}{word}",
            f"{word}{rng.choice(TOWNS)}",
            f"{word}{rng.choice(['24', '360', '1', '4you', 'online', 'shop', 'club'])}",
            f"{rng.choice(['die', 'il', 'la', 'o', 'a', 'my', 'get', 'go'])}{word}",
            f"{rng.choice(SURNAMES)}",
        ][pattern]
        sub = rng.choice(["", "", "www.", "mail.", "cdn.", "api."])
        names.add(f"{sub}{label}.{rng.choice(TLDS)}")
    return sorted(names)
