"""What the tools return: the output schemas (schemas.py), a task's tool result within the size cap (render.py),
and the list_tasks result (lists.py)."""
