"""The tracking hub: settings, Kafka plumbing, faust processors and the CLI."""
