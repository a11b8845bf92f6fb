"""The case lifecycle (closed loop): plain Python over the database, no UI imports."""
