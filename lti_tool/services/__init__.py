"""One service per concern. Services take a SQLAlchemy Session (and settings) and never touch Flask's request."""
