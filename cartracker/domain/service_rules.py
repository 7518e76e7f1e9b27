"""When a car is due for a service: the thresholds the service-due view applies.

They are domain rules, so they live here, beside the aggregate that records the
moments they are crossed (`Car.oil_due_by_mileage_since`, `Car.brakes_due_since`).
Changing the miles or the pad threshold changes what a head records: raise the
head's schema version and rebuild service-due. Changing the days needs only the
rebuild (the due date is computed from the last oil change).
"""

from __future__ import annotations

OIL_CHANGE_EVERY_MILES = 5_000  # past the last oil change's mileage (a car never oil-changed: 0)
OIL_CHANGE_EVERY_DAYS = 180  # after the last oil change (a car never oil-changed: after it was added)
BRAKE_PADS_DUE_AT_PERCENT = 20  # the last inspection's remaining pad at or below this
