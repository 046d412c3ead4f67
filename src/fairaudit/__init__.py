"""fairaudit."""
