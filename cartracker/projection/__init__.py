"""Deferred read models fed by the change feed of the `events` container: the car list.

Pure logic (`car_list`, `documents`, `projector`) over the `ViewStore` port (`ports`);
the stores live in `cartracker.adapters`, the trigger in `cartracker.functions`.
"""
