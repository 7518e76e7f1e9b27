"""The HTTP edge: request parsing, response shaping, problem+json and the OpenAPI document.

Nothing here knows about the Functions host or the local host; both hand these
helpers `azure.functions` request objects and return what they build.
"""
