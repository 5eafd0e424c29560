"""Task functions registered on a module-level app, as users write them."""

from omniq.core import OmniQ

app = OmniQ("memory://sample-tasks", poll_interval=0.02)


@app.task(queue="math", max_retries=1)
def multiply(a: int, b: int) -> int:
    return a * b


@app.task(name="greet")
async def greet(name: str) -> str:
    return f"hello {name}"
