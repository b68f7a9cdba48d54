import os

# The tests run with their own settings only: never the development stack's .run/env (streams.settings
# reads STREAMWISE_ENV_FILE once, at import, and pytest imports this package before any test module).
os.environ["STREAMWISE_ENV_FILE"] = ""
