"""The service layer: command handling and queries, store-agnostic."""
