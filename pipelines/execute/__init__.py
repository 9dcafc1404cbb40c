"""Running untrusted student code: the bubblewrap sandbox, its limits, and what runs inside it."""
