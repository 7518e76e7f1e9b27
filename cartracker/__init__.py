"""CarTracker: an event-sourced car maintenance tracker on Azure Functions and Cosmos DB."""
