"""Kafka tools.

The stream's topics, the one builder of client configuration (``connection``), and the admin,
producer and consumer helpers the CLI, the engine and the tests share.
"""
