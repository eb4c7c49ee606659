"""Running the real servers (Redis, MariaDB, nginx) and the whole topology on one host."""
