"""The embedded demo: the whole loop in one process, no Kafka or Redis.

``make run`` (``streamwise run``) streams a synthetic drifting stream through every configured model
(``embedded.py``), writes a JSON report and its plot (``plot.py``), then serves the learned models
over HTTP from a folder registry (``app.py``). ``streamwise evaluate`` runs the same embedded loop over a
JSONL file.
"""
