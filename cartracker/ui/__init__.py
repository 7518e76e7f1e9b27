"""The web page's static files (static/), served by `cartracker.functions.ui`.

A package rather than a plain folder so that `importlib.resources` finds the files
wherever the function app is deployed, zipped or not.
"""
