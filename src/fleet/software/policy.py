"""The policy every installation status change runs under in the application.

The states and legal moves are ``fleet.software.states``; a policy adds the ordered rules a
move runs through. Each engine that must act on installation moves registers its rules here,
and the callers of ``installations.transition`` / ``reopen_canceled`` (the maker's API, the DDI
feedback, a roll-out's cancellation) pass this policy in.
"""

from __future__ import annotations

from typing import Final

from fleet.software import rollouts
from fleet.software.states import Policy

# 1. the roll-out engine: count finished installations in their group, advance the roll-out
#    (and uncount a cancellation taken back).
INSTALLATION_POLICY: Final = Policy().register(*rollouts.RULES)
