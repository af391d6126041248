"""The simulated exchange: matching engine, participants, market data and order entry."""
