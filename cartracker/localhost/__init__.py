"""A local host for `function_app`: its HTTP triggers served by route, over the embedded store.

It stands in for the Functions host (`func start`) when there is no Azure at
all. It serves the same function objects, through the same `azure.functions`
request and response types, so what works here works there.
"""
