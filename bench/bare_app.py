"""The baseline of the serving benchmark: a FastAPI endpoint that returns a constant JSON.

Same framework, server and request body as the API's /predict; no model, no middleware.
"""

from fastapi import FastAPI

app = FastAPI()
ANSWER = {"prediction": True, "proba": {"false": 0.25, "true": 0.75}, "model": "lr", "version": 1, "generation": 1}


@app.post("/predict")
async def predict(body: dict) -> dict:
    """Return the same constant answer, whatever the JSON body (parsed, as the API's /predict parses it)."""
    return ANSWER


@app.get("/readyz")
async def readyz() -> dict:
    """Return that the server is ready, which the benchmark waits for before sending load."""
    return {"ready": True}
