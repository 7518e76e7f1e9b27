"""The function app, as a table of contents: each blueprint holds one area's functions.

The Functions host (and `python -m cartracker serve`) imports this module and
indexes `app`. Nothing here does I/O: services are built on first use.
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from cartracker.functions import car_list, cars, commands, projections, rebuild, service_due, system, ui

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

app.register_functions(commands.bp)
app.register_functions(cars.bp)
app.register_functions(system.bp)
app.register_functions(car_list.bp)
app.register_functions(service_due.bp)
app.register_functions(ui.bp)
app.register_functions(rebuild.bp)
app.register_functions(projections.bp)
