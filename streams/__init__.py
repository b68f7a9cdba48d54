"""Streamwise's streaming layer: the Faust app, topics, thin agents, the producer and the CLI."""
