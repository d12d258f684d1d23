"""Server-rendered pages (student, instructor, admin). Thin: they call services and render templates."""
