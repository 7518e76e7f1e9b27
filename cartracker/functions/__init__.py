"""The function app's blueprints, one module per area; `function_app.py` registers them.

Each function body is parse -> validate -> call the service -> shape the response.
The rules live in the domain and the service layer, never here.
"""
