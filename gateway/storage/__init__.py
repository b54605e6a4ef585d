"""The node's SQLite database: opening it, versioned schemas per subsystem, transactions."""
