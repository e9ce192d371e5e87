"""The Flask-free rating engine: numbers, filters, compiled tariffs, increments, cost and free minutes."""
