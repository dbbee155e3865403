"""Watchkeeper: the operations platform of a national cyber agency.

One node per agency: threat intelligence, detection, response, electronic evidence and
international cooperation under the UN Convention against Cybercrime (GA res. 79/243).
"""

__version__ = "0.1.0"
