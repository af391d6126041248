"""Feed handler: packet sources, A/B arbitration and recovery, book engine, market-data bus."""
